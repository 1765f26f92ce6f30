"""acubench: benchmark and AcuLa post-training for cardio-respiratory audio encoders.

The Python API mirrors the command line::

    import acubench
    result = acubench.run("opera", tasks="demo")          # acubench run
    emb = acubench.embed(["a.wav"], encoder="opera-gt")    # acubench embed
    ckpt = acubench.align("opera", corpus="demo")          # acubench align

Heavy modules load on first use, so ``import acubench`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute, hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "contribute", "hookimpl", "run", "embed", "align", "load_encoder"]

_LAZY = {
    "run": ("acubench.runner", "run"),
    "embed": ("acubench.embedding", "embed"),
    "align": ("acubench.align.api", "align"),
    "load_encoder": ("acubench.loading", "load_encoder"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'acubench' has no attribute {name!r}")
