"""The one atomic-write helper every writer goes through: whole files or none, no temporary left behind."""

from __future__ import annotations

import numpy as np
import pytest

from acubench.paths import atomic_path, atomic_write


def test_text_bytes_and_file_handle_writers(tmp_path):
    assert atomic_write(tmp_path / "a.json", "{\n}\n") == tmp_path / "a.json"
    assert (tmp_path / "a.json").read_bytes() == b"{\n}\n"  # UTF-8, line ends as given
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    atomic_write(tmp_path / "c.npy", lambda fh: np.save(fh, array, allow_pickle=False), fsync=True)
    assert np.array_equal(np.load(tmp_path / "c.npy"), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", "c.npy"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.jsonl"
    atomic_write(target, "old\n")

    def half_then_fail(fh):
        fh.write(b"new, but only ha")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


def test_atomic_path_hides_the_temporary_name_and_renames_on_success(tmp_path):
    with atomic_path(tmp_path / "shard.npz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".shard.npz.") and tmp.suffix == ".tmp"
        assert not list(tmp_path.glob("*.npz"))  # a reader's glob never meets a half-written file
        tmp.write_bytes(b"data")
    assert (tmp_path / "shard.npz").read_bytes() == b"data" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "never.txt"):
            pass  # nothing written: nothing to rename
    assert not (tmp_path / "never.txt").exists()
