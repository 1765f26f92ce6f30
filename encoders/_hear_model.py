"""The HEAR-API adapter's model wrapper (declared in :mod:`acubench.encoders.hear`)."""

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
from acubench.encoders.hear import PRESETS, SPEC
from acubench.errors import OptionError
from acubench.specs import EncoderSpec
from acubench.weights import file_sha256

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
                raise OptionError(f"encoder hear:{name}: the model from {name}.load_model() has no positive integer "
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
        raise OptionError(
            f"encoder hear:{name}: cannot import module {name!r} ({exc}). Install the package that provides it "
            f"into this environment (e.g. `pip install {name.split('.')[0]}`), or check the module name."
        ) from exc
    missing = [f for f in ("load_model", "get_scene_embeddings") if not callable(getattr(module, f, None))]
    if missing:
        raise OptionError(f"encoder hear:{name}: module {name!r} does not implement the HEAR API (missing {missing})")
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
        raise OptionError("encoder hear needs the module to wrap: use --encoder hear:MODULE (e.g. hear:hearbaseline)")
    module = _import(name)
    model = module.load_model(model_file_path=str(weights) if weights is not None else "")
    if weights is not None:
        info = WeightsInfo("pretrained", str(weights), file_sha256(weights))
    else:
        source = f"{name} {_version(module)} (its own weights)"
        info = WeightsInfo("pretrained", source, hashlib.sha256(source.encode()).hexdigest())
    encoder = HearEncoder(cfg, info, module, model)
    return encoder.to(device).eval()
