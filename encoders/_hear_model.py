"""The HEAR-API adapter's model wrapper (declared in :mod:`acubench.encoders.hear`)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config
from acubench.encoders.hear import PRESETS, SPEC
from acubench.errors import OptionError
from acubench.specs import EncoderSpec
from acubench.weights import file_sha256

#: Top-level packages of the frameworks whose HEAR modules take and return their own tensors.
_TENSORFLOW = ("tensorflow", "keras", "tf_keras")


class HearError(OptionError):
    """A HEAR module that cannot be used as the API says (one line: the module, what went wrong, the fix)."""


def _framework(model: Any) -> str:
    """``"torch"``, ``"tensorflow"`` or ``"other"``, from the classes the model is built of."""
    if isinstance(model, nn.Module):
        return "torch"
    packages = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    return "tensorflow" if packages & set(_TENSORFLOW) else "other"


def as_embeddings(value: Any, rows: int, dim: int, name: str) -> Tensor:
    """A HEAR module's output as a float32 CPU tensor (rows, dim), whatever array type it is.

    PyTorch modules return tensors; TensorFlow and Keras modules return
    ``EagerTensor``s (``.numpy()``); others return NumPy arrays or anything
    with ``__array__``.
    """
    if isinstance(value, Tensor):
        array: Any = value.detach().float().cpu()
    else:
        try:
            array = torch.from_numpy(np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise HearError(f"encoder hear:{name}: get_scene_embeddings returned {type(value).__name__}, which is not "
                            f"an array ({exc}); the HEAR API returns a ({rows}, {dim}) tensor") from None
    if tuple(array.shape) != (rows, dim):
        raise HearError(f"encoder hear:{name}: get_scene_embeddings returned shape {tuple(array.shape)} for {rows} "
                        f"sound(s), expected ({rows}, {dim}) (n_sounds, scene_embedding_size)")
    return array


class HearEncoder(AudioEncoder):
    """A HEAR module's scene embeddings, clips batched by zero-padding (HEAR's convention).

    The HEAR evaluation pads (or trims) every clip of a task to one duration
    with silence. Here each clip is zero-padded to the next whole multiple of
    ``pad_to_seconds`` (1 s), which depends on the clip alone, so an embedding
    never depends on the clips it happens to be batched with (and the cache
    stays valid); clips of the same padded length go to the module in one
    call. The padding is part of what the module hears, as in HEAR.

    Model inputs are (B, N) float32 rows holding each padded clip and NaN past
    its padded end: the NaN tail only carries the length and never reaches
    the HEAR model.
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo, module: ModuleType, model: Any) -> None:
        super().__init__(SPEC, config, weights_info)
        self.module = module
        if isinstance(model, nn.Module):
            self.model = model
        else:  # e.g. a TensorFlow model: kept, but not a submodule
            self.__dict__["model"] = model
        self.framework = _framework(model)
        name = config["arg"]
        for attr in ("sample_rate", "scene_embedding_size"):
            value = getattr(model, attr, None)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
                raise HearError(f"encoder hear:{name}: the model from {name}.load_model() has no positive integer "
                                f"attribute {attr!r} (got {value!r}), which the HEAR API requires")
        self.sample_rate = int(model.sample_rate)
        self.embed_dim = int(model.scene_embedding_size)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Waveforms → (B, max padded length) float32 rows: each clip zero-padded to whole ``pad_to_seconds``,
        NaN after that (CPU)."""
        name = self.config["arg"]
        if any(w.numel() == 0 for w in waves):
            raise HearError(f"encoder hear:{name}: empty waveform")
        step = max(1, round(self.config["pad_to_seconds"] * self.sample_rate))
        padded = [math.ceil(w.numel() / step) * step for w in waves]
        rows = torch.full((len(waves), max(padded)), float("nan"))
        for row, w, n in zip(rows, waves, padded, strict=True):
            w = w.detach().reshape(-1).to("cpu", torch.float32)
            if not torch.isfinite(w).all():
                raise HearError(f"encoder hear:{name}: waveform with NaN/Inf samples")
            row[:n] = 0.0
            row[: w.numel()] = w
        return rows

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, N) → scene embeddings as one token each, (B, 1, D); one HEAR call per padded length."""
        lengths = (~torch.isnan(inputs)).sum(dim=1)
        out = torch.empty(inputs.shape[0], self.embed_dim)
        for length in lengths.unique().tolist():
            rows = (lengths == length).nonzero().squeeze(1)
            out[rows] = self._scene_embeddings(inputs[rows, :length])
        return out.unsqueeze(1)

    def _scene_embeddings(self, audio: Tensor) -> Tensor:
        """One ``get_scene_embeddings`` call on (n, samples) audio, in the module's own tensor type."""
        name = self.config["arg"]
        if self.framework == "tensorflow":
            import tensorflow as tf  # only a TensorFlow module's model gets here, so TensorFlow is installed

            batch: Any = tf.convert_to_tensor(audio.numpy())
        else:
            batch = audio.to(self.device)
        try:
            result = self.module.get_scene_embeddings(batch, self.model)
        except Exception as exc:  # the module's own failure: name it and the module, without its traceback
            raise HearError(f"encoder hear:{name}: {name}.get_scene_embeddings failed on a batch of shape "
                            f"{tuple(audio.shape)} at {self.sample_rate} Hz ({type(exc).__name__}: {exc})") from exc
        return as_embeddings(result, audio.shape[0], self.embed_dim, name)


def _import(name: str) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise HearError(
            f"encoder hear:{name}: cannot import module {name!r} ({exc}). Install the package that provides it "
            f"into this environment (e.g. `pip install {name.split('.')[0]}`), or check the module name."
        ) from None
    missing = [f for f in ("load_model", "get_scene_embeddings") if not callable(getattr(module, f, None))]
    if missing:
        raise HearError(f"encoder hear:{name}: module {name!r} does not implement the HEAR API (missing {missing})")
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
        ``{"name": "default", "arg": MODULE, ...overrides of pad_to_seconds}``;
        ``MODULE`` is the text after ``hear:`` in the encoder name.
    weights : Path or None
        Passed to ``load_model(model_file_path=...)``; ``None`` → ``""`` (the
        package's default weights).
    seed, strict, trust_checkpoint
        Unused: the HEAR API loads weights itself.

    Raises
    ------
    HearError
        No module named, a module that is not importable or not a HEAR module,
        ``load_model`` failing, or a model without ``sample_rate`` /
        ``scene_embedding_size``.
    """
    cfg = resolve_config(spec, PRESETS, config)
    name = cfg.get("arg")
    if not name:
        raise HearError("encoder hear needs the module to wrap: use --encoder hear:MODULE (e.g. hear:hearbaseline)")
    if not (isinstance(cfg["pad_to_seconds"], (int, float)) and cfg["pad_to_seconds"] > 0):
        raise HearError(f"encoder hear:{name}: pad_to_seconds must be a positive number of seconds, "
                        f"got {cfg['pad_to_seconds']!r}")
    module = _import(name)
    try:
        model = module.load_model(model_file_path=str(weights) if weights is not None else "")
    except Exception as exc:  # the module's own failure: one line naming it, the cause kept for -v
        where = f" from {weights}" if weights is not None else " (its default weights)"
        raise HearError(f"encoder hear:{name}: {name}.load_model failed{where} ({type(exc).__name__}: {exc}). "
                        f"Check the module's installation and its weights file") from exc
    if weights is not None:
        info = WeightsInfo("pretrained", str(weights), file_sha256(weights))
    else:
        source = f"{name} {_version(module)} (its own weights)"
        info = WeightsInfo("pretrained", source, hashlib.sha256(source.encode()).hexdigest())
    encoder = HearEncoder(cfg, info, module, model)
    return encoder.to(device).eval()
