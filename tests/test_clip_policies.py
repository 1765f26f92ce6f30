"""The input policy every built-in encoder gets on every built-in task, pinned.

``data/clip_policies.json`` was written from acubench 0.1.0 (commit c283451), when
tasks still named encoder ids in ``clip_overrides``. Policies now come from what
a task declares (clip length, recording length, its OPERA task number) and each
encoder's own rule; the embeddings stay identical only if every pair below does.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from acubench.plugins import get_encoder, get_task

PINNED = json.loads((Path(__file__).parent / "data" / "clip_policies.json").read_text())


def test_the_pinned_table_covers_every_built_in_pair():
    encoders = {key.split(" ")[0] for key in PINNED}
    tasks = {key.split(" ")[1] for key in PINNED}
    assert len(encoders) == 8 and len(tasks) == 30 and len(PINNED) == 8 * 30


@pytest.mark.parametrize("pair", sorted(PINNED))
def test_clip_policy_is_unchanged(pair):
    encoder, task = pair.split(" ")
    assert asdict(get_task(task).clip_policy(get_encoder(encoder))) == PINNED[pair]
