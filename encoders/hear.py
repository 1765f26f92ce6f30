"""Any HEAR-2021-API package as an acubench encoder: ``--encoder hear:MODULE``.

The HEAR API (Turian et al., 2022) is a plain module with
``load_model(model_file_path="") -> model`` (carrying ``sample_rate`` and
``scene_embedding_size``) and ``get_scene_embeddings(audio, model)``, where
``audio`` is an (n_sounds, n_samples) float tensor at ``model.sample_rate``,
every row the same length. The module is imported by name; nothing needs to
be registered.

Equal lengths: padding a shorter clip with silence changes what a HEAR model
returns for it (the silence is part of the scene), so clips are never padded
here. A batch is split into groups of equal length and each group is one
``get_scene_embeddings`` call; with the windowed clip policies of the tasks
nearly every batch is a single group.

Weights: ``--weights PATH`` is passed as ``model_file_path``; without it the
package loads its own default weights. A HEAR package has no notion of a
seeded random initialisation, so ``--random-init`` has no effect here.
The wrapped model is a black box: no token features, no alignment.
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec

PRESETS: dict[str, dict[str, Any]] = {"default": {}}

SPEC = EncoderSpec(
    id="hear",
    factory="acubench.encoders._hear_model:build",
    # Each instance takes its rate and size from the wrapped model (16000 is a placeholder).
    sample_rate=16000,
    embed_dim=0,
    clip=ClipPolicy(trim_silence=False, pad="none"),
    task_clip="fixed",
    family="hear",
    description="adapter for any HEAR-2021-API package: --encoder hear:MODULE (rate and size from the model)",
    configs=("default",),
    weights=None,
    supports_alignment=False,
    reference="Turian et al., HEAR: Holistic Evaluation of Audio Representations, PMLR 176 (2022)",
)

plugin = contribute(encoders=[SPEC])
