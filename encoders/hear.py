"""Any HEAR-2021-API package as an acubench encoder: ``--encoder hear:MODULE``.

The HEAR API (Turian et al., 2022) is a plain module with
``load_model(model_file_path="") -> model`` (carrying ``sample_rate`` and
``scene_embedding_size``) and ``get_scene_embeddings(audio, model)``, where
``audio`` is an (n_sounds, n_samples) tensor at ``model.sample_rate``, every
row the same length. The module is imported by name; nothing needs to be
registered. PyTorch modules get a ``torch.Tensor``; TensorFlow and Keras
modules (whose models are TensorFlow objects) get a TensorFlow tensor, and
may return an ``EagerTensor``: any array-like of shape (n_sounds,
scene_embedding_size) is accepted.

Lengths: clips of different lengths are zero-padded and batched, HEAR's
convention. HEAR's evaluation pads every clip of a task to one duration; here
each clip is padded to the next whole second (``pad_to_seconds``), which
depends on the clip alone, so the batch a clip lands in never changes its
embedding, and clips of the same padded length share one call.

Weights: ``--weights PATH`` is passed as ``model_file_path``; without it the
package loads its own default weights. A HEAR package has no seeded random
initialisation, so ``--random-init`` is refused. The wrapped model is a black
box: no token features, no alignment. Rows are named ``hear:MODULE``; its
rate and size are the module's own (``acubench encoders hear:MODULE`` shows
them).
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec

PRESETS: dict[str, dict[str, Any]] = {"default": {"pad_to_seconds": 1.0}}

SPEC = EncoderSpec(
    id="hear",
    factory="acubench.encoders._hear_model:build",
    sample_rate=0,  # each instance takes its rate and size from the wrapped model
    embed_dim=0,
    clip=ClipPolicy(trim_silence=False, pad="none"),
    task_clip="fixed",
    family="hear",
    description="adapter for any HEAR-2021-API package: --encoder hear:MODULE (rate and size from the module)",
    configs=("default",),
    weights=None,
    random_init=False,
    supports_alignment=False,
    reference="Turian et al., HEAR: Holistic Evaluation of Audio Representations, PMLR 176 (2022)",
)

plugin = contribute(encoders=[SPEC])
