"""acubench: benchmark and AcuLa post-training for cardio-respiratory audio encoders.

The Python API mirrors the command line::

    import acubench
    result = acubench.run("opera", tasks="demo")          # acubench run
    emb = acubench.embed(["a.wav"], encoder="opera-gt")    # acubench embed
    ckpt = acubench.align("opera", corpus="demo")          # acubench align
    zs = acubench.zeroshot(ckpt.path, tasks="demo")        # acubench zeroshot

Encoder loading takes one options object everywhere
(``acubench.run("opera", encoder_options=acubench.EncoderOptions(device="cuda"))``);
every error acubench raises on purpose is an :class:`AcubenchError`.

Heavy modules load on first use, so ``import acubench`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from acubench._version import __version__
from acubench.errors import AcubenchError
from acubench.hookspecs import contribute, hookimpl

__all__ = [
    "AcubenchError",
    "AlignOptions",
    "EncoderOptions",
    "__version__",
    "align",
    "contribute",
    "embed",
    "hookimpl",
    "load_encoder",
    "run",
    "zeroshot",
]

_LAZY = {
    "run": ("acubench.api", "run"),
    "embed": ("acubench.api", "embed"),
    "align": ("acubench.api", "align"),
    "zeroshot": ("acubench.api", "zeroshot"),
    "AlignOptions": ("acubench.api", "AlignOptions"),
    "load_encoder": ("acubench.loading", "load_encoder"),
    "EncoderOptions": ("acubench.loading", "EncoderOptions"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'acubench' has no attribute {name!r}")
