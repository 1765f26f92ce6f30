"""The acubench hook specifications: the whole plugin surface in one place.

A plugin is any object registered under the ``acubench`` entry-point group
(built-ins included, see ``pyproject.toml``): a module whose functions carry
``@acubench.hookimpl``, or, for a plugin that only contributes specs, the
object :func:`contribute` makes. Hooks are called with keyword arguments and
return values; none mutates its arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from acubench.specs import DatasetSpec, EncoderSpec, ProbeSpec, TaskSpec

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


@hookspec
def acubench_probes() -> list[ProbeSpec]:
    """Return the probe heads (or scorers) this plugin contributes; built-ins arrive the same way."""


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


# --- declaring a plugin -----------------------------------------------------------------


class Contribution(SimpleNamespace):
    """A plugin object made by :func:`contribute`: its hooks return fixed specs."""

    def __repr__(self) -> str:
        return f"<acubench plugin {self.__name__}>"


def contribute(
    *,
    datasets: Iterable[DatasetSpec] = (),
    tasks: Iterable[TaskSpec] = (),
    encoders: Iterable[EncoderSpec] = (),
    probes: Iterable[ProbeSpec] = (),
    resolve_weights: Callable[..., Path | None] | None = None,
    module: str | None = None,
) -> Contribution:
    """A plugin that contributes these specs, for the entry point to name.

    A declaration module ends with ``plugin = contribute(datasets=[DATASET],
    tasks=TASKS)`` and registers ``"package.module:plugin"`` in the
    ``acubench`` entry-point group; it needs no hook functions of its own.

    Parameters
    ----------
    datasets, tasks, encoders, probes : iterable of specs
        What the plugin's ``acubench_datasets``, ``acubench_tasks``,
        ``acubench_encoders`` and ``acubench_probes`` hooks return (copied now).
    resolve_weights : callable, optional
        An ``acubench_resolve_weights(spec, source)`` implementation.
    module : str, optional
        Name shown by ``acubench plugins``; default the calling module's.
    """
    hooks: dict[str, Callable[..., Any]] = {}
    for name, specs in (("acubench_datasets", datasets), ("acubench_tasks", tasks),
                        ("acubench_encoders", encoders), ("acubench_probes", probes)):
        frozen = tuple(specs)
        if frozen:
            hooks[name] = hookimpl(lambda frozen=frozen: list(frozen))
    if resolve_weights is not None:
        def acubench_resolve_weights(spec: EncoderSpec, source: str | None) -> Path | None:
            return resolve_weights(spec=spec, source=source)

        hooks["acubench_resolve_weights"] = hookimpl(acubench_resolve_weights)
    # As enum's and namedtuple's functional APIs do: name the object after the caller's module.
    name = module or sys._getframe(1).f_globals.get("__name__", "acubench plugin")
    return Contribution(__name__=name, **hooks)
