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


@pytest.fixture(scope="session")
def bert_teacher(tmp_path_factory):
    """A tiny BERT-shaped teacher (word-level tokenizer, random weights) saved as a Hugging Face folder."""
    from tiny_align import make_bert_teacher

    return make_bert_teacher(tmp_path_factory.mktemp("bert-teacher"))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """The demo suite (seed 0), generated once per test session; returns its folder.

    It lives outside every test's private cache. Read it with
    ``LoadContext(data_root=..., cache_dir=demo_dir.parents[1])`` or the loader
    option ``{"folder": str(demo_dir)}``; a test that runs the CLI under its
    private ``ACUBENCH_CACHE`` links it in first:
    ``(Path(os.environ["ACUBENCH_CACHE"]) / "demo").symlink_to(demo_dir.parent)``.
    Tests must not modify it (copy it to change it).
    """
    from acubench.tasks.demo.store import ensure_demo

    return ensure_demo(tmp_path_factory.mktemp("demo-suite"))
