"""The built-in probe heads, declared: registered through the ``acubench`` entry points like any plugin's.

Declarations only (the standard library and :mod:`acubench.specs`): listing the
probes imports neither torch nor scikit-learn; the heads themselves live in
:mod:`acubench.probes.heads` (the zero-shot scorer in
:mod:`acubench.align.zeroshot`) and load when a probe is fitted.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import ProbeSpec

_HEADS = "acubench.probes.heads"

#: The settings the OPERA benchmark's linear evaluation takes per task (see ReferenceLinear).
REFERENCE_LINEAR_OPTIONS = frozenset({"epochs", "batch_size", "l2_strength", "early_stopping_patience",
                                      "early_stopping_min_delta", "checkpoint_every_n_epochs"})

PROBES = (
    ProbeSpec(
        id="linear", factory=f"{_HEADS}:LinearProbe", deterministic=True,
        description="logistic regression (classes balanced) or ridge; strength chosen on validation",
    ),
    ProbeSpec(
        id="mlp", factory=f"{_HEADS}:MLPProbe",
        description="one hidden layer of 256 (ReLU, Adam); L2 strength chosen on validation",
    ),
    ProbeSpec(
        id="lightgbm", factory=f"{_HEADS}:LightGBMProbe",
        description="gradient-boosted trees; leaves chosen on validation, early stopping",
    ),
    ProbeSpec(
        id="reference-linear", factory=f"{_HEADS}:ReferenceLinear", standardise=False,
        options=REFERENCE_LINEAR_OPTIONS,
        description="the OPERA benchmark's linear evaluation (Adam 1e-4, 0.97 decay, best validation epoch), "
                    "on unstandardised features, to reproduce published numbers",
    ),
    ProbeSpec(
        id="zeroshot", factory="acubench.align.zeroshot:ZeroShotScorer", standardise=False, deterministic=True,
        trains=False, aligned_only=True, kinds=("binary", "multiclass"), aliases=("zero-shot",),
        description="zero-shot classification (aligned encoders): cosine similarity of each clip to the "
                    "teacher's embedding of each class prompt in the AcuLa space; nothing trained",
    ),
)

plugin = contribute(probes=PROBES)
