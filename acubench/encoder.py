"""The runtime contract every encoder plugin implements.

An encoder turns a batch of mono waveforms at its own sample rate into clip
embeddings. It is split into a front-end (``featurize``: no gradient,
deterministic), a differentiable token stage (``forward_tokens``) and a
pooling step, so that the benchmark (``embed``) and AcuLa post-training
(``forward_tokens`` + ``pool`` with gradients, ``ssl_loss``) share one code
path and cannot drift apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from acubench.errors import OptionError
from acubench.specs import EncoderSpec


@dataclass(frozen=True)
class WeightsInfo:
    """Where an encoder's weights came from.

    Parameters
    ----------
    status : {"pretrained", "random-init", "aligned", "none"}
        ``"none"`` for encoders without learnable weights (the log-mel baseline).
    source : str
        Path or Hub id the weights were read from; for random init, the seed.
    sha256 : str
        Digest of the weights file (or of the seed string for random init).
    base_status : str or None
        For aligned weights, the status of the weights alignment started from
        (``"random-init"`` marks every result of the encoder "random init" too).
    """

    status: str
    source: str = ""
    sha256: str = ""
    base_status: str | None = None

    @property
    def is_random(self) -> bool:
        return self.status == "random-init"

    @property
    def from_random_init(self) -> bool:
        """Random weights, or weights trained (aligned) from a random initialisation."""
        return self.is_random or self.base_status == "random-init"

    @classmethod
    def random_init(cls, seed: int) -> WeightsInfo:
        """The record of a seeded random initialisation (its digest differs per seed)."""
        source = f"seed {seed}"
        return cls("random-init", source, hashlib.sha256(f"random-init {source}".encode()).hexdigest())

    def label(self) -> str:
        """Short text for tables: ``pretrained``, ``random init (seed 0)``…"""
        if self.status == "random-init":
            return f"random init ({self.source})"
        return self.status


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a model's random initialisation under ``seed`` without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_config(spec: EncoderSpec, presets: Mapping[str, Mapping[str, Any]],
                   config: Mapping[str, Any]) -> dict[str, Any]:
    """A factory's config: the named preset with the caller's overrides applied.

    Parameters
    ----------
    spec : EncoderSpec
    presets : mapping of str to mapping
        Preset name (``"default"``, ``"tiny"``…) → its settings.
    config : mapping
        What the factory was given: ``"name"`` picks the preset (default
        ``"default"``), ``"arg"`` (the text after a colon in the encoder
        name) is passed through, every other key overrides a preset value.

    Returns
    -------
    dict
        ``{"name": ..., **settings}``, JSON-serialisable, for ``AudioEncoder.config``.

    Raises
    ------
    OptionError
        For an unknown preset or an override the preset does not have, listing the valid ones.
    """
    name = config.get("name", "default")
    if name not in presets:
        raise OptionError(f"encoder {spec.id}: unknown config {name!r}; choose from {sorted(presets)}")
    out: dict[str, Any] = {"name": name, **presets[name]}
    for key, value in config.items():
        if key in ("name", "arg"):
            continue
        if key not in presets[name]:
            raise OptionError(f"encoder {spec.id}: config has no setting {key!r}; settings: {sorted(presets[name])}")
        out[key] = value
    if "arg" in config:
        out["arg"] = config["arg"]
    return out


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class AudioEncoder(nn.Module, ABC):
    """Base class of encoder plugins.

    Subclasses set up their backbone in ``__init__`` and implement
    :meth:`featurize` and :meth:`forward_tokens`; most override :meth:`pool`.

    Attributes
    ----------
    spec : EncoderSpec
    sample_rate : int
        Hz of the waveforms :meth:`featurize` expects (default ``spec.sample_rate``).
    embed_dim : int
        Size D of :meth:`embed`'s output (default ``spec.embed_dim``).
    config : dict
        The resolved config the model was built from (JSON-serialisable).
    weights_info : WeightsInfo
    has_ssl_loss : bool
        :meth:`ssl_loss` returns the encoder's own self-supervised loss.
        Declared on the class; an instance may turn it off (AudioMAE loaded
        from a checkpoint without its MAE decoder). AcuLa reads it to decide
        between that loss and its generic masked-frame head.
    ssl_loss_notice : str or None
        One line on what the encoder's masked modelling lacks (e.g. no decoder
        in the checkpoint, so AcuLa uses the generic head); AcuLa prints it and
        records it in ``alignment.json``.
    """

    has_ssl_loss: bool = False
    ssl_loss_notice: str | None = None

    def __init__(self, spec: EncoderSpec, config: dict[str, Any], weights_info: WeightsInfo) -> None:
        super().__init__()
        self.spec = spec
        self.config = dict(config)
        self.weights_info = weights_info
        # Instances may refine these (a HEAR module reports its own rate and size).
        self.sample_rate: int = spec.sample_rate
        self.embed_dim: int = spec.embed_dim

    # -- the three stages ------------------------------------------------------------

    @abstractmethod
    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Front-end: waveforms → a batch of model inputs, on the model's device.

        Parameters
        ----------
        waves : sequence of Tensor, each (n_samples,), or Tensor (B, n_samples)
            Mono float32 audio at ``spec.sample_rate`` Hz, already trimmed,
            padded and windowed by the clip policy, on the CPU (possibly
            pinned) or already on the model's device. Lengths may differ; a
            2-D tensor is a batch of equal-length windows.

        Returns
        -------
        Tensor
            Model input, e.g. a log-mel batch (B, T, F). No gradient.
        """

    @abstractmethod
    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """Backbone: model inputs → token/frame features (B, N, D), differentiable."""

    def pool(self, tokens: Tensor) -> Tensor:
        """Tokens (B, N, D) → clip embeddings (B, D). Default: mean over tokens."""
        return tokens.mean(dim=1)

    def ssl_loss(self, inputs: Tensor, generator: torch.Generator | None = None) -> Tensor | None:
        """The encoder's own self-supervised loss on ``inputs``, if it has one (:attr:`has_ssl_loss`).

        OPERA-GT and AudioMAE return their MAE masked-reconstruction loss
        through their released decoders, masking with ``generator`` (CPU;
        default the global torch RNG); encoders without one return ``None``
        and AcuLa attaches a generic masked-frame head.
        """
        return None

    # -- alignment support ---------------------------------------------------------------

    def mask_inputs(self, inputs: Tensor, mask_ratio: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Hide random time frames of the model inputs, for masked acoustic modelling.

        The default assumes inputs shaped (B, T, F), time first, and replaces
        masked frames by each clip's mean (as OPERA's ``random_mask`` does).
        Encoders whose inputs are laid out differently override this and
        :meth:`reconstruction_target`.

        Returns
        -------
        masked : Tensor, same shape as ``inputs``
        mask : BoolTensor, shape (B, T)
            True where a frame was hidden.
        """
        b, t = inputs.shape[0], inputs.shape[1]
        scores = torch.rand(b, t, generator=generator, device="cpu").to(inputs.device)
        mask = scores < mask_ratio
        fill = inputs.mean(dim=tuple(range(1, inputs.dim())), keepdim=True).expand_as(inputs)
        expand = mask.view(b, t, *([1] * (inputs.dim() - 2)))
        return torch.where(expand, fill, inputs), mask

    def reconstruction_target(self, inputs: Tensor) -> Tensor:
        """What masked modelling reconstructs, shaped (B, T, F); default the inputs."""
        return inputs

    def export_state_dict(self) -> dict[str, Tensor]:
        """Weights in the released checkpoint's key layout.

        ``build(spec, weights=<a file holding this dict>)`` must load it back,
        so an aligned encoder is saved and reloaded exactly like a released one
        (and OPERA-GT's matches AcuLa's ``audio_model_state_dict``).
        """
        return {k: v.detach().cpu() for k, v in self.state_dict().items()}

    # -- derived -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The encoder as named on the command line: its id, with an adapter's argument (``hear:MODULE``)."""
        arg = self.config.get("arg")
        return f"{self.spec.id}:{arg}" if arg else self.spec.id

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @torch.inference_mode()
    def embed(self, waves: Sequence[Tensor] | Tensor, *, autocast: torch.dtype | None = None,
              timings: dict[str, float] | None = None) -> Tensor:
        """Clip embeddings (B, D) as float32 on the CPU, in eval mode.

        Parameters
        ----------
        waves : sequence of Tensor (n_samples,), or Tensor (B, n_samples)
            As :meth:`featurize` takes them.
        autocast : torch.dtype, optional
            Run the backbone and pooling under ``torch.autocast`` with this
            dtype (``torch.bfloat16``). The front-end always runs in float32:
            log-mel features lose too much in bf16 and cost little.
        timings : dict, optional
            Adds the seconds spent in the front-end (``"features"``) and in the
            backbone and pooling (``"forward"``); the device is synchronised
            between the two so that the split is real.
        """
        was_training = self.training
        self.eval()
        try:
            t0 = time.perf_counter()
            inputs = self.featurize(waves)
            if timings is not None:
                _synchronize(inputs.device)
                t1 = time.perf_counter()
                timings["features"] = timings.get("features", 0.0) + t1 - t0
            cast = (torch.autocast(device_type=self.device.type, dtype=autocast) if autocast is not None
                    else contextlib.nullcontext())
            with cast:
                out = self.pool(self.forward_tokens(inputs))
            out = out.float().cpu()
            if timings is not None:
                timings["forward"] = timings.get("forward", 0.0) + time.perf_counter() - t1
        finally:
            self.train(was_training)
        return out

    def fingerprint(self) -> str:
        """Content key of what this encoder computes: id, config, weights.

        Two encoders with the same fingerprint produce the same embeddings for
        the same input, so the embedding cache is keyed by it.
        """
        payload = {
            "id": self.spec.id,
            "config": self.config,
            "weights": self.weights_info.sha256 or self.weights_info.status,
            "impl": getattr(self, "impl_version", "1"),
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
