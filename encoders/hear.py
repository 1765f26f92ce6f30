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

import hashlib
import importlib
import importlib.metadata
import numbers
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config
from acubench.hookspecs import hookimpl
from acubench.specs import ClipPolicy, EncoderSpec
from acubench.weights import file_sha256

PRESETS: dict[str, dict[str, Any]] = {"default": {}}

SPEC = EncoderSpec(
    id="hear",
    factory="acubench.encoders.hear:build",
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


class HearEncoder(AudioEncoder):
    """A HEAR module's scene embeddings.

    Model inputs are (B, N) float32 rows holding each clip's samples and NaN
    past its end: the NaN tail only carries the clip's length (decoded audio
    is always finite) and never reaches the HEAR model.
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo, module: ModuleType, model: Any) -> None:
        super().__init__(SPEC, config, weights_info)
        self.module = module
        if isinstance(model, nn.Module):
            self.model = model
        else:  # e.g. a TensorFlow model: kept, but not a submodule
            self.__dict__["model"] = model
        name = config["arg"]
        for attr in ("sample_rate", "scene_embedding_size"):
            value = getattr(model, attr, None)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
                raise TypeError(f"encoder hear:{name}: the model from {name}.load_model() has no positive integer "
                                f"attribute {attr!r}, which the HEAR API requires")
        self.sample_rate = int(model.sample_rate)
        self.embed_dim = int(model.scene_embedding_size)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Waveforms → (B, max_len) float32 rows, NaN past each clip's end (CPU)."""
        name = self.config["arg"]
        if any(w.numel() == 0 for w in waves):
            raise ValueError(f"encoder hear:{name}: empty waveform")
        rows = torch.full((len(waves), max(w.numel() for w in waves)), float("nan"))
        for row, w in zip(rows, waves):
            w = w.detach().reshape(-1).to("cpu", torch.float32)
            if not torch.isfinite(w).all():
                raise ValueError(f"encoder hear:{name}: waveform with NaN/Inf samples")
            row[: w.numel()] = w
        return rows

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, N) → scene embeddings as one token each, (B, 1, D); one HEAR call per clip length."""
        lengths = (~torch.isnan(inputs)).sum(dim=1)
        out = torch.empty(inputs.shape[0], self.embed_dim)
        for length in lengths.unique().tolist():
            rows = (lengths == length).nonzero().squeeze(1)
            audio = inputs[rows, :length].to(self.device)
            emb = self.module.get_scene_embeddings(audio, self.model)
            if not isinstance(emb, Tensor) or tuple(emb.shape) != (len(rows), self.embed_dim):
                got = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
                raise ValueError(f"encoder hear:{self.config['arg']}: get_scene_embeddings returned {got}, "
                                 f"expected a tensor of shape ({len(rows)}, {self.embed_dim})")
            out[rows] = emb.detach().float().cpu()
        return out.unsqueeze(1)


def _import(name: str) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"encoder hear:{name}: cannot import module {name!r} ({exc}). Install the package that provides it "
            f"into this environment (e.g. `pip install {name.split('.')[0]}`), or check the module name."
        ) from exc
    missing = [f for f in ("load_model", "get_scene_embeddings") if not callable(getattr(module, f, None))]
    if missing:
        raise TypeError(f"encoder hear:{name}: module {name!r} does not implement the HEAR API (missing {missing})")
    return module


def _version(module: ModuleType) -> str:
    top = module.__name__.split(".")[0]
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(module, "__version__", "unversioned"))


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> HearEncoder:
    """Wrap the HEAR module named by ``config["arg"]`` (factory of :data:`SPEC`).

    Parameters
    ----------
    config : dict
        ``{"name": "default", "arg": MODULE}``; ``MODULE`` is the text after
        ``hear:`` in the encoder name.
    weights : Path or None
        Passed to ``load_model(model_file_path=...)``; ``None`` → ``""`` (the
        package's default weights).
    seed, strict, trust_checkpoint
        Unused: the HEAR API loads weights itself.
    """
    cfg = resolve_config(spec, PRESETS, config)
    name = cfg.get("arg")
    if not name:
        raise ValueError("encoder hear needs the module to wrap: use --encoder hear:MODULE (e.g. hear:hearbaseline)")
    module = _import(name)
    model = module.load_model(model_file_path=str(weights) if weights is not None else "")
    if weights is not None:
        info = WeightsInfo("pretrained", str(weights), file_sha256(weights))
    else:
        source = f"{name} {_version(module)} (its own weights)"
        info = WeightsInfo("pretrained", source, hashlib.sha256(source.encode()).hexdigest())
    encoder = HearEncoder(cfg, info, module, model)
    return encoder.to(device).eval()


@hookimpl
def acubench_encoders() -> list[EncoderSpec]:
    return [SPEC]
