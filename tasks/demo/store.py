"""The demo suite in the cache: generating, completing, checking and reading its folder.

The folder holds ``generator.json`` (version, seed, plan fingerprint),
``audio/<modality>/<recording>.wav`` (16 kHz mono PCM-16, each written
atomically) and ``metadata.csv`` — written last, it marks the folder
complete. An interrupted generation resumes (valid files are kept, missing or
truncated ones are rendered again); a folder from another generator is
regenerated, never mixed.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.datasets import member_paths
from acubench.manifest import DatasetError
from acubench.paths import atomic_write
from acubench.tasks.demo import DATASET, GENERATOR_VERSION, LUNG_DIAGNOSES, METADATA_FILE, MODALITIES
from acubench.tasks.demo.plan import AUDIO_DIR, DEFAULT_SEED, METADATA_COLUMNS, demo_plan, plan_fingerprint
from acubench.tasks.demo.synth import SAMPLE_RATE, render_recording

log = logging.getLogger(__name__)

#: The generator's identity (version, seed, plan and synthesis fingerprints), written first.
INFO_FILE = "generator.json"


def demo_folder(cache_dir: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """``<cache_dir>/demo/v<GENERATOR_VERSION>-seed<seed>``: where :func:`ensure_demo` puts the suite."""
    return Path(cache_dir) / DATASET.folder / f"v{GENERATOR_VERSION}-seed{int(seed)}"


#: The modules whose code shapes the audio: the plan draws every parameter, the synthesis renders it.
_SHAPING = ("plan", "synth")


def normalised_source(source: str) -> str:
    """Python source in one canonical layout (:func:`ast.unparse`) without docstrings or comments.

    A documentation edit leaves it unchanged; any edit of the code changes it.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block:
                kept = [s for s in block if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                 and isinstance(s.value.value, str))]
                setattr(node, name, kept or [ast.Pass()])
    return ast.unparse(tree)


@functools.lru_cache(maxsize=1)
def synthesis_fingerprint() -> str:
    """SHA-256 (16 hex) of what shapes the audio: the code of the plan and the synthesis
    (:data:`_SHAPING`, docstrings and comments left out) and the suite's declared
    modalities and diagnoses.

    An edited generator never reuses old audio, even when the edit forgot to bump
    :data:`~acubench.tasks.demo.GENERATOR_VERSION`; an edited docstring, or a change
    to how the folder is stored, regenerates nobody's demo.
    """
    here = Path(__file__).parent
    parts = [normalised_source((here / f"{name}.py").read_text(encoding="utf-8")) for name in _SHAPING]
    parts.append(json.dumps({"lung_diagnoses": LUNG_DIAGNOSES, "modalities": MODALITIES}, sort_keys=True))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


#: Keys of ``generator.json`` that must all agree for a folder to be reused.
_IDENTITY = ("version", "seed", "plan_fingerprint", "synthesis")


def _info(seed: int, fingerprint: str) -> dict[str, Any]:
    return {"generator": "acubench.tasks.demo", "version": GENERATOR_VERSION, "seed": int(seed),
            "sample_rate": SAMPLE_RATE, "plan_fingerprint": fingerprint, "synthesis": synthesis_fingerprint(),
            "numpy": np.__version__}


def _write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: sf.write(fh, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV"))


def _wav_ok(path: Path, n_samples: int) -> bool:
    """A complete file of the expected length (a truncated WAV reports fewer frames)."""
    try:
        info = sf.info(str(path))
    except Exception:  # any unreadable file is simply rendered again
        return False
    return info.frames == n_samples and info.samplerate == SAMPLE_RATE and info.channels == 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete(folder: Path, seed: int, fingerprint: str) -> bool:
    info_path, meta_path = folder / INFO_FILE, folder / METADATA_FILE
    if not (info_path.is_file() and meta_path.is_file()):
        return False
    try:
        info = json.loads(info_path.read_text())
        meta = pd.read_csv(meta_path, usecols=["audio_path", "duration"])
    except (ValueError, OSError, pd.errors.ParserError):
        return False
    expected = _info(seed, fingerprint)
    if any(info.get(k) != expected[k] for k in _IDENTITY):
        return False
    return all(_wav_ok(folder / p, int(round(d * SAMPLE_RATE)))
               for p, d in zip(meta["audio_path"], meta["duration"], strict=True))


def generate_demo(folder: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """(Re)generate the demo suite into ``folder``, keeping files that are already complete.

    Files are written atomically, ``metadata.csv`` last; a folder left by
    another generator version, seed or plan is cleared first.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    plan = demo_plan(seed)
    fingerprint = plan_fingerprint(plan)
    info = _info(seed, fingerprint)
    info_path = folder / INFO_FILE
    if info_path.is_file():
        try:
            old = json.loads(info_path.read_text())
        except ValueError:
            old = {}
        if any(old.get(k) != info[k] for k in _IDENTITY):
            # Never mix two generators' files: clear what a generator writes, and nothing else.
            log.info("demo: %s holds another generator's output (%s); regenerating", folder, old)
            shutil.rmtree(folder / AUDIO_DIR, ignore_errors=True)
    elif folder.is_dir() and any(folder.iterdir()):
        raise DatasetError(f"{folder}: not empty and not a demo folder (no {INFO_FILE}); the demo suite is generated "
                           f"only into an empty or demo folder. Choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILE).unlink(missing_ok=True)
    atomic_write(info_path, json.dumps(info, indent=2, sort_keys=True).encode())
    rendered = 0
    hashes = []
    for row in plan.to_dict("records"):
        path = folder / row["audio_path"]
        if not _wav_ok(path, int(round(row["duration"] * SAMPLE_RATE))):
            _write_wav(path, render_recording(row, seed))
            rendered += 1
        hashes.append(_sha256(path))
    meta = plan.drop(columns=["params"])
    meta["sha256"] = hashes
    buf = meta.to_csv(index=False, float_format="%.6g")
    atomic_write(folder / METADATA_FILE, buf.encode())
    log.info("demo: rendered %d of %d recordings into %s", rendered, len(plan), folder)
    return folder


def ensure_demo(cache_dir: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """The demo suite's folder under ``cache_dir``, generated (or repaired) first if needed.

    Parameters
    ----------
    cache_dir : path-like
        acubench's cache root (:func:`acubench.paths.cache_dir`).
    seed : int
        Demo seed; each seed has its own folder.

    Returns
    -------
    Path
        :func:`demo_folder` ``(cache_dir, seed)``, complete.
    """
    folder = demo_folder(cache_dir, seed)
    plan = demo_plan(seed)
    if _complete(folder, seed, plan_fingerprint(plan)):
        return folder
    log.info("demo: generating the synthetic demo suite into %s (first use; about 10 s)", folder)
    return generate_demo(folder, seed)


def read_metadata(folder: str | os.PathLike) -> pd.DataFrame:
    """The ``metadata.csv`` of a complete demo folder, ``audio_path`` made absolute.

    Raises
    ------
    DatasetError
        If the folder is not a complete demo suite.
    """
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: no demo metadata; the folder is not a complete demo suite. Generate it with "
                           f"acubench.tasks.demo.store.ensure_demo(<cache dir>) or any `acubench run --tasks demo`")
    # Only empty cells are missing: "none" and "None" are values (no adventitious sounds, no symptoms).
    meta = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in METADATA_COLUMNS if c not in meta.columns]
    if missing:
        raise DatasetError(f"{path}: lacks column(s) {missing}; delete {folder} and it is generated again")
    paths = member_paths(folder, meta["audio_path"], metadata=path, spec=DATASET, column="audio_path")
    meta["audio_path"] = [str(p.resolve()) for p in paths]
    return meta
