"""The plugin path: entry points, registry rules, and a third-party encoder used end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pluggy
import pytest

from acubench import hookspecs, plugins
from acubench.cli import main
from acubench.hookspecs import contribute
from acubench.plugins import DuplicateNameError, Registry, UnknownNameError, select_tasks
from acubench.records.results import read_records
from acubench.specs import DatasetSpec, EncoderSpec, SpecError, TaskSpec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "acubench-example-encoder"


def _spec(id_, aliases=()):
    return EncoderSpec(id=id_, factory="m:f", sample_rate=16000, embed_dim=8, aliases=aliases)


def test_registry_aliases_duplicates_and_suggestions():
    reg = Registry.build("encoder", [("a", _spec("opera-gt", ("opera",))), ("b", _spec("clap"))])
    assert reg.get("opera").id == "opera-gt" and reg.get("OPERA-GT").id == "opera-gt"
    with pytest.raises(UnknownNameError, match="Did you mean opera"):
        reg.get("oprea")
    with pytest.raises(DuplicateNameError, match=r"'a'.*'c'"):
        Registry.build("encoder", [("a", _spec("opera-gt", ("opera",))), ("c", _spec("opera-ct", ("opera",)))])


def test_specs_validate_on_construction():
    with pytest.raises(SpecError, match="factory"):
        EncoderSpec(id="x", factory="nocolon", sample_rate=1, embed_dim=1)
    with pytest.raises(SpecError, match="binary task needs 2 classes"):
        TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="binary", modality="m", target="t", classes=("a",))
    with pytest.raises(SpecError, match="one sentence per class"):
        TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="binary", modality="m", target="t",
                 classes=("a", "b"), class_prompts=("only one",))


def test_contribute_makes_a_plugin_of_specs():
    task = TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="regression", modality="m", target="t")
    plugin = contribute(tasks=[task], encoders=[_spec("enc")], resolve_weights=lambda spec, source: None)
    assert plugin.__name__ == __name__ and not hasattr(plugin, "acubench_datasets")
    pm = pluggy.PluginManager("acubench")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="mine")
    pm.check_pending()
    assert pm.hook.acubench_tasks() == [[task]] and [s.id for s, in pm.hook.acubench_encoders()] == ["enc"]
    assert pm.hook.acubench_resolve_weights(spec=_spec("enc"), source=None) is None


def test_task_clip_rules_are_validated():
    with pytest.raises(SpecError, match="task_clip must be one of"):
        EncoderSpec(id="x", factory="m:f", sample_rate=1, embed_dim=1, task_clip="min-seconds")
    rule = EncoderSpec(id="x", factory="m:f", sample_rate=1, embed_dim=1, task_clip="operator:eq")  # returns a bool
    task = TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="regression", modality="m", target="t")
    with pytest.raises(SpecError, match="task_clip rule operator:eq returned bool for task t, not a ClipPolicy"):
        task.clip_policy(rule)


def test_builtins_arrive_through_entry_points():
    pm = plugins.plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"logmel", "opera-gt", "demo"} <= names
    dists = {d.project_name for _, d in pm.list_plugin_distinfo()}
    assert "acubench" in dists


def test_all_means_every_task_on_real_data_by_the_datasets_declaration():
    def task(id_, dataset, suites):
        return TaskSpec(id=id_, name=id_, dataset=dataset, loader="m:f", kind="regression", modality="m",
                        target="t", suites=suites)

    def dataset(id_, generated):
        return DatasetSpec(id=id_, name=id_, folder=id_, url="", license="", layout="", generated=generated)

    plugin = contribute(datasets=[dataset("synthetic", True), dataset("recorded", False)],
                        tasks=[task("gen-1", "synthetic", ("toy",)), task("rec-1", "recorded", ("demo",))])
    pm = plugins.plugin_manager()
    pm.register(plugin, name="generated-vs-recorded")
    plugins.registries.cache_clear()
    try:
        chosen = {t.id for t in select_tasks("all")}
        # A generated dataset's task stays out whatever its suite; a real dataset's is in, even in "demo".
        assert "rec-1" in chosen and "gen-1" not in chosen and not any(t.startswith("demo-") for t in chosen)
        assert {t.id for t in select_tasks("toy")} == {"gen-1"}
    finally:
        pm.unregister(name="generated-vs-recorded")
        plugins.reset()


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """Make the README's example plugin discoverable as an installed distribution."""
    site = tmp_path / "site"
    site.mkdir()
    for module in ("acubench_example_encoder.py", "acubench_example_encoder_model.py", "acubench_example_probe.py"):
        shutil.copy(EXAMPLE / module, site)
    info = site / "acubench_example_encoder-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acubench-example-encoder\nVersion: 0.1.0\n")
    # The same entry points the example's pyproject.toml declares.
    declared = (EXAMPLE / "pyproject.toml").read_text()
    assert 'mfcc-stats = "acubench_example_encoder:plugin"' in declared
    assert 'knn = "acubench_example_probe:plugin"' in declared
    (info / "entry_points.txt").write_text("[acubench]\nmfcc-stats = acubench_example_encoder:plugin\n"
                                           "knn = acubench_example_probe:plugin\n")
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()
    yield
    plugins.reset()


@pytest.mark.slow
def test_third_party_encoder_is_listed_and_runs(example_plugin, tmp_path, capsys):
    assert plugins.get_encoder("mfcc-stats").embed_dim == 40
    assert main(["encoders"]) == 0
    assert "mfcc-stats" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["run", "--encoder", "mfcc-stats", "--tasks", "demo-wheeze", "--seeds", "1", "--out", str(out)]) == 0
    assert "mfcc-stats" in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_third_party_probe_is_listed_and_runs(example_plugin, tmp_path, capsys):
    spec = plugins.get_probe("knn")
    assert (spec.deterministic, spec.standardise, spec.trains) == (True, True, True)
    assert main(["probes"]) == 0
    listing = " ".join(capsys.readouterr().out.split())
    assert "knn" in listing and "one fit for every seed" in listing
    assert plugins.registries().probes.owners["knn"] == "knn"
    out = tmp_path / "run"
    assert main(["run", "--encoder", "logmel", "--probe", "linear,knn", "--tasks", "demo-wheeze", "--seeds", "2",
                 "--out", str(out)]) == 0
    records = read_records(out)
    knn = [r for r in records if r.probe == "knn"]
    assert len(knn) == 2 and knn[0].value == knn[1].value and 0.5 < knn[0].value <= 1.0  # one fit served both seeds
    assert knn[0].hyperparams["k"] in (5, 15, 35) and knn[0].ci95 is not None
    assert "Probe: **knn**" in (out / "leaderboard.md").read_text()


def test_disable_plugin_blocks_it(example_plugin, capsys):
    plugins.set_blocked(("mfcc-stats",))
    try:
        assert "mfcc-stats" not in plugins.registries().encoders
    finally:
        plugins.set_blocked(())


def test_every_library_error_is_an_acubench_error():
    from acubench.align.corpus import CorpusError
    from acubench.align.presets import AlignConfigError
    from acubench.align.trainer import AlignError
    from acubench.audio import AudioError
    from acubench.checkpoints import CheckpointError
    from acubench.cli import UsageError
    from acubench.errors import AcubenchError, OptionError, PathNotFound
    from acubench.leaderboard.aggregate import LeaderboardError
    from acubench.leaderboard.evidence import EvidenceError
    from acubench.manifest import DatasetError, ManifestError
    from acubench.records.results import RecordError
    from acubench.weights import WeightsNotFound

    errors = (AlignConfigError, AlignError, AudioError, CheckpointError, CorpusError, DatasetError, DuplicateNameError,
              EvidenceError, LeaderboardError, ManifestError, OptionError, PathNotFound, RecordError, SpecError,
              UnknownNameError, UsageError, WeightsNotFound)
    assert all(issubclass(e, AcubenchError) for e in errors)
    # ... and keep the standard class that says what kind of mistake it is
    assert issubclass(DatasetError, FileNotFoundError) and issubclass(UnknownNameError, KeyError)
    with pytest.raises(OptionError, match="unknown config 'nope'"):
        from acubench.loading import load_encoder

        load_encoder("logmel", config="nope")
