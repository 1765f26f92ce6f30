"""The acubench hook specifications: the whole plugin surface in one place.

A plugin is any module registered under the ``acubench`` entry-point group
(built-ins included, see ``pyproject.toml``). It implements some of these
hooks with ``@acubench.hookimpl``. Hooks are called with keyword arguments and
return values; none mutates its arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from acubench.specs import DatasetSpec, EncoderSpec, TaskSpec

hookspec = pluggy.HookspecMarker("acubench")
hookimpl = pluggy.HookimplMarker("acubench")


# --- contributions --------------------------------------------------------------------


@hookspec
def acubench_encoders() -> list[EncoderSpec]:
    """Return the encoder specs this plugin contributes."""


@hookspec
def acubench_datasets() -> list[DatasetSpec]:
    """Return the dataset specs this plugin contributes (folder layout, checks, metadata)."""


@hookspec
def acubench_tasks() -> list[TaskSpec]:
    """Return the task specs this plugin contributes."""


# --- services -------------------------------------------------------------------------


@hookspec(firstresult=True)
def acubench_resolve_weights(spec: EncoderSpec, source: str | None) -> Path | None:
    """Locate weights for ``spec`` (``source``: the user's path or Hub id, or ``None``).

    Stops at the first non-``None`` result. The built-in resolver tries the
    explicit source, ``$ACUBENCH_WEIGHTS`` and the Hugging Face cache/Hub; a
    plugin can add a lab-internal store ahead of it.
    """


@hookspec
def acubench_run_finished(run_dir: Path, records: list[dict[str, Any]]) -> None:
    """Called once a run has written its results; e.g. to upload or notify."""


@hookspec
def acubench_align_losses() -> list[Any]:
    """Return the alignment losses this plugin contributes (:class:`acubench.align.lossspec.LossSpec`)."""
