"""Per-clip test predictions: the evidence behind every result record.

A run folder's ``predictions.parquet`` holds one row per encoder × task × probe ×
seed × test clip, with the columns of :data:`PREDICTION_COLUMNS`:

* ``score`` is P(positive class) for binary tasks and the prediction (target
  units) for regression; multiclass tasks leave it empty and add one
  ``score_<class>`` column per class (the task's class names).
* ``label`` is the manifest's integer class code (binary: 1 is the class
  ``score`` refers to) or the regression target.
* ``fold`` is the held-out subject for leave-one-subject-out tasks, empty for
  fixed splits.

Every record's headline metric can be recomputed from these rows, and
:func:`clip_scores` turns them into the input of :mod:`acubench.records.stats`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acubench.errors import RecordError
from acubench.records.stats import ClipScores

if TYPE_CHECKING:
    import pandas as pd

PREDICTIONS_FILE = "predictions.parquet"
#: Column → pandas dtype; multiclass tasks add ``score_<class>`` (float64) columns.
PREDICTION_COLUMNS: Mapping[str, str] = {
    "encoder": "string", "task": "string", "probe": "string", "seed": "int64", "fold": "string",
    "clip_id": "string", "subject": "string", "label": "float64", "score": "float64",
}
SCORE_PREFIX = "score_"


def prediction_frame(*, encoder: str, task: str, probe: str, seed: int, clip_id: Sequence[str],
                     subject: Sequence[str], label: np.ndarray, score: np.ndarray, fold: Sequence[str] | None,
                     classes: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of one fit.

    Parameters
    ----------
    clip_id, subject : sequence of str, length n
        The test clips, in the order of ``score``.
    label : ndarray, shape (n,)
        Class codes or regression targets.
    score : ndarray, shape (n,) for binary (P(class 1)) and regression, (n, C) for multiclass
    fold : sequence of str or None
        Held-out subject of each row (leave-one-subject-out), or None for a fixed split.
    classes : sequence of str
        Class names (multiclass: one ``score_<class>`` column each, in label order).
    """
    import pandas as pd

    n = len(clip_id)
    score = np.asarray(score, dtype=np.float64)
    columns: dict[str, Any] = {
        "encoder": [encoder] * n, "task": [task] * n, "probe": [probe] * n, "seed": np.full(n, seed, dtype=np.int64),
        "fold": list(fold) if fold is not None else [None] * n, "clip_id": list(clip_id), "subject": list(subject),
        "label": np.asarray(label, dtype=np.float64),
    }
    if score.ndim == 2:
        if score.shape[1] != len(classes):
            raise ValueError(f"{score.shape[1]} score columns but {len(classes)} class names")
        columns["score"] = np.full(n, np.nan)
        columns.update({f"{SCORE_PREFIX}{name}": score[:, c] for c, name in enumerate(classes)})
    else:
        columns["score"] = score
    # Plain object columns here; :func:`concat` gives the whole table its dtypes once.
    return pd.DataFrame(columns)


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack fits' rows into one table (the union of their ``score_<class>`` columns), typed as
    :data:`PREDICTION_COLUMNS`."""
    import pandas as pd

    if not frames:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in PREDICTION_COLUMNS.items()})
    return pd.concat(frames, ignore_index=True, sort=False).astype(dict(PREDICTION_COLUMNS))


def to_parquet(frame: pd.DataFrame) -> bytes:
    """The table as parquet bytes (pyarrow), for an atomic write."""
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def read_predictions(path: str | os.PathLike) -> pd.DataFrame | None:
    """The predictions of a run folder (or a ``predictions.parquet``); ``None`` when there are none.

    Raises
    ------
    acubench.errors.RecordError
        A file that is not parquet or lacks the prediction columns.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise RecordError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc})") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise RecordError(f"{path}: not an acubench predictions file (lacks {', '.join(missing)})")
    return frame


def score_matrix(rows: pd.DataFrame, kind: str, classes: Sequence[str]) -> np.ndarray:
    """Scores of a fit's rows: (n,) for binary and regression, (n, C) for multiclass."""
    if kind == "multiclass":
        return rows[[f"{SCORE_PREFIX}{c}" for c in classes]].to_numpy(dtype=np.float64)
    return rows["score"].to_numpy(dtype=np.float64)


def clip_scores(rows: pd.DataFrame, *, kind: str, classes: Sequence[str], split_scheme: str,
                score: np.ndarray | None = None) -> ClipScores:
    """The statistics' view of one fit's rows.

    The resampling unit is the subject (fixed split) or the fold's held-out
    subject (leave-one-subject-out); for leave-one-subject-out regression the
    metric is the mean of per-fold MAEs, as the record's ``value``.

    Parameters
    ----------
    score : ndarray, optional
        Use these scores (same rows and order) instead of the rows' own, e.g. a
        per-clip mean over seeds.
    """
    loso = split_scheme == "loso"
    units = rows["fold"] if loso else rows["subject"]
    y = rows["label"].to_numpy(dtype=np.float64)
    s = score_matrix(rows, kind, classes) if score is None else score
    return ClipScores.from_groups(kind, y if kind == "regression" else y.astype(np.int64), s,
                                  units.astype(str).to_numpy(), n_classes=len(classes),
                                  per_unit=loso and kind == "regression")
