"""acubench: benchmark and AcuLa post-training for cardio-respiratory audio encoders."""

from __future__ import annotations

from acubench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
