"""Probe heads are plugins: declared capabilities drive the harness, task options are checked, scorers
need not train, declarations are cheap, and a third party's head runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from acubench import contribute, plugins
from acubench.cli import main
from acubench.engine.probe import evaluate, evaluate_seeds
from acubench.plugins import Registry, check_probe_options
from acubench.probe_base import Head
from acubench.specs import ProbeSpec, SpecError, TaskSpec

HEAVY = ("torch", "sklearn", "pandas", "scipy")


def _task(protocol="fixed", **options) -> TaskSpec:
    return TaskSpec(id="t1", name="t1", dataset="d", loader="m:f", kind="binary", modality="m", target="t",
                    classes=("a", "b"), protocol=protocol, probe_options=options)


def test_probe_specs_validate_on_construction():
    with pytest.raises(SpecError, match="factory must be a 'module:Class' reference"):
        ProbeSpec(id="x", factory="nocolon")
    with pytest.raises(SpecError, match="kinds must be a non-empty subset"):
        ProbeSpec(id="x", factory="m:C", kinds=("ranking",))
    with pytest.raises(SpecError, match="options must be a collection of option names"):
        ProbeSpec(id="x", factory="m:C", options="epochs")
    assert ProbeSpec(id="x", factory="m:C", options=["epochs"]).options == frozenset({"epochs"})


def test_builtin_probes_arrive_through_the_entry_point_with_their_capabilities():
    reg = plugins.registries().probes
    assert sorted(reg.items) == ["lightgbm", "linear", "mlp", "reference-linear", "zeroshot"]
    assert reg.owners["linear"] == "probes"
    linear, reference = reg.get("linear"), reg.get("reference-linear")
    assert (linear.deterministic, linear.standardise, linear.trains) == (True, True, True)
    assert (reference.deterministic, reference.standardise) == (False, False)
    assert {"epochs", "l2_strength", "checkpoint_every_n_epochs"} <= reference.options
    zeroshot = reg.get("zero-shot")
    declared = (zeroshot.id, zeroshot.trains, zeroshot.deterministic, zeroshot.standardise)
    assert declared == ("zeroshot", False, True, False)
    assert zeroshot.aligned_only and zeroshot.kinds == ("binary", "multiclass")


def test_task_probe_options_must_be_read_by_some_probe_or_the_split():
    probes = plugins.registries().probes
    tasks = lambda t: Registry.build("task", [("my-plugin", t)])  # noqa: E731
    check_probe_options(tasks(_task(epochs=64, l2_strength=1e-5)), probes)  # reference-linear's
    check_probe_options(tasks(_task("loso", val_fraction=0.2, val_split="rows")), probes)  # LOSO validation
    with pytest.raises(SpecError, match=r"TaskSpec 't1' \(plugin 'my-plugin'\): probe option\(s\) val_seed are read "
                                        r"by no registered probe nor by its 'fixed' split"):
        check_probe_options(tasks(_task(val_seed=1337)), probes)
    with pytest.raises(SpecError, match="probe option\\(s\\) val_fraction"):  # a fixed split carves no validation
        check_probe_options(tasks(_task(val_fraction=0.2)), probes)
    with pytest.raises(ValueError, match="probe option\\(s\\) epoch are read by no registered probe"):
        evaluate(*_binary(), kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0,
                 options={"epoch": 3})


def _binary(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 4))
    X[:, 0] += 1.5 * y
    split = np.array(["train", "train", "train", "val", "test"])[(np.arange(n) // 2) % 5]
    subject = np.array([f"s{i // 2}" for i in range(n)])
    return X, y, split, subject


class FirstFeature(Head):
    """A scorer: P(class 1) rises with the first feature; it never trains and checks its context."""

    def predict(self, X):
        assert self.context.task is not None and self.context.task.id == "t1"
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.stack([1 - p, p], axis=1)


@pytest.fixture
def scorer_plugin():
    spec = ProbeSpec(id="first-feature", factory=f"{__name__}:FirstFeature", trains=False, standardise=False,
                     deterministic=True, kinds=("binary",), description="test scorer")
    plugins.plugin_manager().register(contribute(probes=[spec]), name="scorer")
    plugins.registries.cache_clear()
    yield spec
    plugins.reset()


def test_a_scorer_that_does_not_train_scores_the_test_clips(scorer_plugin):
    from acubench.probe_base import ProbeContext

    X, y, split, subject = _binary()
    outcomes = evaluate_seeds(X, y, split, subject, seeds=[0, 1, 2], kind="binary", n_classes=2, protocol="fixed",
                              probe="first-feature", context=ProbeContext(task=_task()))
    assert outcomes[0] is outcomes[2]  # deterministic: one scoring serves every seed
    te = split == "test"
    assert outcomes[0].value == roc_auc_score(y[te], X[te, 0])
    assert outcomes[0].hyperparams == {"validation": "none (does not train)"}
    with pytest.raises(ValueError, match="probe 'first-feature' does not handle regression tasks"):
        evaluate(X, X[:, 1], split, subject, kind="regression", n_classes=0, protocol="fixed",
                 probe="first-feature", seed=0, context=ProbeContext(task=_task()))


def test_unknown_probe_is_one_clear_line(capsys):
    assert main(["run", "--encoder", "logmel", "--tasks", "demo-wheeze", "--probe", "lienar", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown probe 'lienar'. Did you mean linear?" in err and err.count("\n") == 1


def test_declaring_and_listing_probes_imports_no_heavy_package():
    code = ("import contextlib, io, json, sys\nimport acubench.probes, acubench.probe_base\n"
            "from acubench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n    rc = main(['probes'])\n"
            f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules], "
            "'reference-linear' in out.getvalue()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, [], True]


def test_run_help_lists_the_registered_probes(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "probe heads (default linear): lightgbm, linear, mlp, reference-linear, zeroshot;" in help_text


class FixedSpace:
    """A joint space standing in for an aligned checkpoint's: audio vectors are the features' first S columns,
    each prompt's vector is looked up (both normalised), so the expected scores can be written out."""

    temperature = 0.5

    def __init__(self, prompts: dict[str, np.ndarray]) -> None:
        self.prompts, self.calls = prompts, 0

    def audio(self, X):
        a = X[:, :3]
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    def text(self, sentences):
        self.calls += 1
        t = np.stack([self.prompts[s] for s in sentences])
        return t / np.linalg.norm(t, axis=1, keepdims=True)

    def describe(self):
        return {"teacher": "fixed", "temperature": self.temperature}


def test_the_zeroshot_scorer_softmaxes_prompt_similarities_under_either_split_scheme():
    from acubench.probe_base import ProbeContext

    rng = np.random.default_rng(0)
    n = 60
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 5))
    X[np.arange(n), y] += 2.0  # each class leans towards its prompt's direction
    subject = np.array([f"s{i // 3}" for i in range(n)])
    split = np.where(np.arange(n) < 30, "train", "test")
    task = TaskSpec(id="t3", name="t3", dataset="d", loader="m:f", kind="multiclass", modality="m", target="sound",
                    classes=("a", "b", "c"), class_prompts=("sound a", "sound b", "sound c"))
    space = FixedSpace({f"sound {c}": np.eye(3)[i] for i, c in enumerate("abc")})
    ctx = ProbeContext(task=task, space=space)
    sims = space.audio(X) @ np.eye(3).T
    expected = np.exp(sims / 0.5) / np.exp(sims / 0.5).sum(axis=1, keepdims=True)

    fixed = evaluate_seeds(X, y, split, subject, seeds=[0, 1], kind="multiclass", n_classes=3, protocol="fixed",
                           probe="zeroshot", context=ctx)
    assert fixed[0] is fixed[1]
    te = split == "test"
    assert np.allclose(fixed[0].predictions.score, expected[te])
    assert fixed[0].value == roc_auc_score(y[te], fixed[0].predictions.score, multi_class="ovr", average="macro")
    assert fixed[0].hyperparams == {"validation": "none (does not train)", "prompts": ["sound a", "sound b", "sound c"],
                                    "teacher": "fixed", "temperature": 0.5}

    # leave-one-subject-out: nothing is fitted, so one scoring of every pooled clip serves all seeds
    loso = evaluate_seeds(X, y, split, subject, seeds=[0, 1, 2], kind="multiclass", n_classes=3, protocol="loso",
                          probe="zeroshot", context=ctx)
    assert loso[0] is loso[2]
    order = loso[0].predictions.index
    assert np.allclose(loso[0].predictions.score, expected[order])
    assert loso[0].value == roc_auc_score(y[order], expected[order], multi_class="ovr", average="macro")
    assert loso[0].hyperparams["prompts"] == ["sound a", "sound b", "sound c"]
    assert loso[0].hyperparams["validation"] == "none (does not train)"

    binary = TaskSpec(id="t2", name="t2", dataset="d", loader="m:f", kind="binary", modality="m", target="sound",
                      classes=("a", "b"))  # no class prompts: "<target>: <class>"
    space2 = FixedSpace({"sound: a": np.eye(3)[0], "sound: b": np.eye(3)[1]})
    yb = (y == 1).astype(int)
    out = evaluate(X, yb, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="zeroshot", seed=0,
                   context=ProbeContext(task=binary, space=space2))
    diff = (space2.audio(X) @ np.eye(3)[:2].T) @ np.array([-1.0, 1.0])
    assert out.value == roc_auc_score(yb[te], diff[te])  # P(class 1) ranks clips as the similarity difference does
    assert out.hyperparams["prompts"] == ["sound: a", "sound: b"]
    with pytest.raises(Exception, match="needs an aligned encoder's audio–text space"):
        evaluate(X, yb, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="zeroshot", seed=0,
                 context=ProbeContext(task=binary))
