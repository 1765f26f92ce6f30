"""A task plugin defined in the tests, registered like a third party's (see test_runner)."""

from __future__ import annotations

import pandas as pd

from acubench import hookimpl
from acubench.datasets import dataset_folder
from acubench.manifest import LoadContext
from acubench.specs import DatasetSpec, TaskSpec

DATASET = DatasetSpec(id="toyset", name="Toy set", folder="toyset", url="https://example.org", license="CC0",
                      layout="clips/*.wav and labels.csv")
# opera_task: a published number (OPERA's SSBPR task), so a test can follow it from run to reference rows.
TASK = TaskSpec(id="toy-task", name="toy-loudness", dataset="toyset", loader="toy_task:load", kind="binary",
                modality="noise", target="loud", classes=("quiet", "loud"), clip_seconds=0.5, opera_task=12)


def load(ctx: LoadContext) -> pd.DataFrame:
    folder = dataset_folder(ctx.data_root, DATASET)
    return pd.read_csv(folder / "labels.csv")


@hookimpl
def acubench_datasets():
    return [DATASET]


@hookimpl
def acubench_tasks():
    return [TASK]
