"""Test-wide isolation: a private cache, no network, small thread pools."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own acubench cache, so no test reads another's state."""
    monkeypatch.setenv("ACUBENCH_CACHE", str(tmp_path_factory.mktemp("acubench-cache")))
    monkeypatch.delenv("ACUBENCH_WEIGHTS", raising=False)
    monkeypatch.delenv("ACUBENCH_DATA", raising=False)
