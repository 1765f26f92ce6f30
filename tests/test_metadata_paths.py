"""Paths from metadata: no loader reads a file outside its dataset folder.

Every registered dataset is covered, one of two ways:

* ``POISONED``: its metadata names files. A row naming ``../../elsewhere.wav``
  or an absolute path must be refused with one error naming the metadata file
  and the row (:func:`acubench.datasets.member_paths` / ``refuse_escaping``,
  or an id pattern that admits no separator).
* ``LISTED``: its paths come from listing the dataset folder itself (no
  metadata names a file). Its manifests' paths must all lie inside the folder.

A dataset registered without a case here fails :func:`test_every_dataset_is_covered`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from acubench import plugins
from acubench.datasets import member_paths, refuse_escaping
from acubench.manifest import DatasetError, LoadContext
from acubench.specs import resolve_ref
from layouts.circor import build_circor
from layouts.coswara import SMALL as COSWARA_DRAWS
from layouts.coswara import build_coswara
from layouts.coughvid import build_coughvid
from layouts.covid19sounds import build_covid
from layouts.coviduk import build_coviduk
from layouts.hflung import build_hflung
from layouts.icbhi import build_icbhi
from layouts.kauh import build_kauh
from layouts.mmlung import build_mmlung
from layouts.nosemic import build_nosemic
from layouts.resptr import build_resptr
from layouts.sprsound import build_sprsound
from layouts.ssbpr import build_ssbpr
from layouts.zchsound import build_zchsound

ESCAPES = ("../../elsewhere.wav", "/tmp/elsewhere.wav")


def _set_cell(path: Path, column: str, value: str, sep: str = ",") -> None:
    """Overwrite ``column`` of the first data row of a publisher table."""
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.loc[0, column] = value
    table.to_csv(path, sep=sep, index=False)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


@dataclass(frozen=True)
class Poison:
    """Build the dataset under a root, then make one metadata row name ``bad``; the metadata file's name."""

    build: Callable[[Path], Path]
    poison: Callable[[Path, str], None]
    metadata: str


POISONED: dict[str, Poison] = {
    "icbhi": Poison(build_icbhi, lambda f, bad: _append_line(f / "ICBHI_challenge_train_test.txt", f"{bad}\ttrain"),
                    "ICBHI_challenge_train_test.txt"),
    "circor": Poison(build_circor, lambda f, bad: _set_cell(f / "training_data.csv", "Patient ID", bad),
                     "training_data.csv"),
    "coughvid": Poison(build_coughvid,
                       lambda f, bad: _set_cell(f / "public_dataset/metadata_compiled.csv", "uuid", bad),
                       "metadata_compiled.csv"),
    "coviduk": Poison(build_coviduk, lambda f, bad: _set_cell(f / "audio_metadata.csv", "exhalation_file_name", bad),
                      "audio_metadata.csv"),
    "covid19sounds": Poison(build_covid, lambda f, bad: _set_cell(f / "data_0426_en_task1.csv", "Breath filename", bad,
                                                                  sep=";"), "data_0426_en_task1.csv"),
    "zchsound": Poison(build_zchsound, lambda f, bad: _set_cell(f / "Clean Heartsound Data Details.csv", "fileName",
                                                                bad, sep=";"), "Clean Heartsound Data Details.csv"),
    "resptr": Poison(build_resptr, lambda f, bad: _set_cell(f / "Labels.csv", "Patient ID", bad), "Labels.csv"),
}

#: Datasets whose loaders take every path from a listing of the dataset folder. MMLung's table names
#: its spirometer reports, but only the participant number is read from the name; no file is opened by it.
LISTED: dict[str, Callable[[Path], Path]] = {
    "coswara": build_coswara, "kauh": build_kauh, "nosemic": build_nosemic, "ssbpr": build_ssbpr,
    "sprsound": build_sprsound, "hflung": build_hflung, "mmlung": build_mmlung,
}


def _tasks(dataset: str):
    return [t for t in plugins.registries().tasks if t.dataset == dataset]


def _load(task, root: Path, **options) -> pd.DataFrame:
    return resolve_ref(task.loader)(LoadContext(task=task, data_root=root, cache_dir=root / "cache", options=options))


def test_every_dataset_is_covered():
    plugins.reset()
    registered = {d.id for d in plugins.registries().datasets}
    assert registered == set(POISONED) | set(LISTED) | {"demo"}
    assert not set(POISONED) & set(LISTED)


@pytest.mark.parametrize("bad", ESCAPES)
@pytest.mark.parametrize("dataset", sorted(POISONED))
def test_a_row_naming_a_path_outside_the_dataset_is_refused(dataset, bad, tmp_path):
    case = POISONED[dataset]
    folder = case.build(tmp_path)
    case.poison(folder, bad)
    (tmp_path.parent / "elsewhere.wav").write_bytes(b"not read")
    with pytest.raises(DatasetError, match=re.escape(case.metadata) + r".*" + re.escape(bad)):
        _load(_tasks(dataset)[0], tmp_path)


def test_the_demo_metadata_is_held_to_the_same_rule(demo_dir, tmp_path):
    copy = tmp_path / "demo"
    copy.mkdir()
    shutil.copy(demo_dir / "metadata.csv", copy / "metadata.csv")
    _set_cell(copy / "metadata.csv", "audio_path", "../../elsewhere.wav")
    with pytest.raises(DatasetError, match=r"metadata\.csv: line 2 names audio_path '\.\./\.\./elsewhere\.wav'"):
        _load(_tasks("demo")[0], tmp_path, folder=str(copy))


@pytest.mark.parametrize("dataset", sorted(LISTED))
def test_listed_datasets_read_only_inside_their_folder(dataset, tmp_path, monkeypatch):
    from acubench.tasks import _coswara_reader

    monkeypatch.setattr(_coswara_reader, "TEST_DRAWS", COSWARA_DRAWS)
    folder = LISTED[dataset](tmp_path).resolve()
    for task in _tasks(dataset):
        df = _load(task, tmp_path)
        assert all(Path(p).resolve().is_relative_to(folder) for p in df["path"]), task.id


def test_the_rule_names_file_row_and_fix(tmp_path):
    spec = _tasks("zchsound")[0]
    dataset = plugins.registries().datasets.get(spec.dataset)
    meta = tmp_path / "table.csv"
    assert member_paths(tmp_path, ["a.wav", " sub/b.wav "], metadata=meta, spec=dataset) == [tmp_path / "a.wav",
                                                                                             tmp_path / "sub/b.wav"]
    for bad in ("..\\..\\x.wav", "C:/x.wav", "sub/../../x.wav", "/x.wav"):
        with pytest.raises(DatasetError, match=rf"table\.csv: row p7 names fileName .*outside the dataset folder.*"
                                               rf"restore the publisher's table\.csv from {re.escape(dataset.url)}"):
            refuse_escaping(["ok.wav", bad], folder=tmp_path, metadata=meta, spec=dataset, rows=["p1", "p7"],
                            column="fileName")
    refuse_escaping(["sub/./x.wav", "x..y.wav"], folder=tmp_path, metadata=meta, spec=dataset)  # inside: accepted
