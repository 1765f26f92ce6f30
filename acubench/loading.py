"""Building an encoder by name: registry lookup, weights resolution, factory call.

Names may carry an argument after a colon (``hear:hearbaseline``): the part
before the colon is the registered id, the rest goes to the factory as
``config["arg"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from acubench.encoder import AudioEncoder
from acubench.engine.devices import PRECISIONS, resolve_device, resolve_precision
from acubench.errors import OptionError
from acubench.plugins import get_encoder, plugin_manager
from acubench.specs import EncoderSpec, resolve_ref
from acubench.weights import WeightsNotFound, resolve_weights

log = logging.getLogger(__name__)

RandomInit = Literal["never", "fallback", "always"]

_RANDOM_INIT = ("never", "fallback", "always")


@dataclass(frozen=True)
class EncoderOptions:
    """How to load and run an encoder: one object for every command and API call that builds one.

    Parameters
    ----------
    weights : str or Path, optional
        A checkpoint file/folder or Hub id; default: search (see :func:`find_weights`).
    config : str or dict
        A named config of the spec (``"default"``, ``"tiny"``) or explicit values.
    random_init : {"never", "fallback", "always"}, optional
        See :func:`load_encoder`; ``None`` lets the caller decide (``run`` allows
        the fallback when every selected task is a demo task).
    strict : bool
        Missing/unexpected checkpoint keys are an error.
    trust_checkpoint : bool
        Allow full unpickling of checkpoints that need it (runs code from the file).
    device : str
        ``"auto"`` (CUDA, then MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    precision : {"auto", "fp32", "bf16"}
        ``bf16`` runs the encoder's backbone under autocast; ``auto`` picks bf16
        where the device computes it natively (:func:`acubench.engine.devices.resolve_precision`).
    batch_size : int
        Model inputs (windows) per forward pass.
    """

    weights: str | Path | None = None
    config: str | dict[str, Any] = "default"
    random_init: RandomInit | None = None
    strict: bool = True
    trust_checkpoint: bool = False
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.random_init is not None and self.random_init not in _RANDOM_INIT:
            raise OptionError(f"random_init must be one of {_RANDOM_INIT}, got {self.random_init!r}")
        if self.precision not in PRECISIONS:
            raise OptionError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise OptionError(f"batch size must be a positive integer, got {self.batch_size!r}")

    def check(self, name: str) -> EncoderSpec:
        """The spec of ``name``, refusing without building anything a name, config or ``--random-init`` that
        cannot work with it."""
        spec = get_encoder(split_name(name)[0])
        if isinstance(self.config, str) and self.config not in spec.configs:
            raise OptionError(f"encoder {spec.id}: unknown config {self.config!r}; choose from {list(spec.configs)}")
        if self.random_init in ("fallback", "always") and not spec.random_init:
            raise OptionError(f"encoder {name}: --random-init does not apply: it loads its own weights and has no "
                              f"seeded random initialisation; drop --random-init")
        return spec

    def resolved(self) -> EncoderOptions:
        """These options with ``auto`` device and precision replaced by what this machine offers.

        Raises
        ------
        DeviceError
            For a device that does not exist here (``cuda`` without CUDA, ``tpu``).
        """
        device = resolve_device(self.device)
        return replace(self, device=str(device), precision=resolve_precision(self.precision, device))

    def load(self, name: str, *, seed: int = 0, random_init: RandomInit | None = None) -> AudioEncoder:
        """:func:`load_encoder` with these options (``random_init`` overrides an unset one; default ``"never"``)."""
        self.check(name)
        return load_encoder(name, weights=self.weights, config=self.config,
                            random_init=self.random_init or random_init or "never", device=self.device, seed=seed,
                            strict=self.strict, trust_checkpoint=self.trust_checkpoint)


def split_name(name: str) -> tuple[str, str | None]:
    """``"hear:pkg.mod"`` → ``("hear", "pkg.mod")``; ``"opera"`` → ``("opera", None)``."""
    base, sep, arg = name.partition(":")
    return base, (arg if sep else None)


def find_weights(spec: EncoderSpec, source: str | None) -> Path:
    """Weights for ``spec`` through the ``acubench_resolve_weights`` hook chain.

    Plugins may answer first (a lab's own store); the built-in resolver
    (explicit path/Hub id, ``$ACUBENCH_WEIGHTS``, Hugging Face cache/Hub) is
    the fallback.
    """
    found = plugin_manager().hook.acubench_resolve_weights(spec=spec, source=source)
    if found is not None:
        return Path(found)
    return resolve_weights(spec, source)


def load_encoder(
    name: str,
    *,
    weights: str | Path | None = None,
    config: str | dict[str, Any] = "default",
    random_init: RandomInit = "never",
    device: str = "auto",
    seed: int = 0,
    strict: bool = True,
    trust_checkpoint: bool = False,
) -> AudioEncoder:
    """Build a registered encoder, with its released weights where it has them.

    Parameters
    ----------
    name : str
        Encoder id or alias (``"opera"``), optionally ``id:arg``.
    weights : str or Path, optional
        A checkpoint file/folder or Hub id; default: search (see :func:`find_weights`).
    config : str or dict
        A named config of the spec (``"default"``, ``"tiny"``) or explicit values.
    random_init : {"never", "fallback", "always"}
        ``"never"``: missing weights are an error. ``"fallback"``: use a seeded
        random initialisation when no weights are found (the demo does this;
        every output then says "random init"). ``"always"``: ignore weights.
    device : str
        ``"auto"`` (CUDA, then MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
    seed : int
        Seed of the random initialisation.
    strict : bool
        Missing/unexpected checkpoint keys are an error (``--non-strict`` relaxes).
    trust_checkpoint : bool
        Allow full unpickling of checkpoints that need it (runs code from the file).
    """
    base, arg = split_name(name)
    spec = get_encoder(base)
    if random_init == "always" and not spec.random_init:
        raise OptionError(f"encoder {name}: --random-init does not apply: it loads its own weights and has no "
                         f"seeded random initialisation; drop --random-init")
    if isinstance(config, str):
        if config not in spec.configs:
            raise OptionError(f"encoder {spec.id}: unknown config {config!r}; choose from {list(spec.configs)}")
        cfg: dict[str, Any] = {"name": config}
    else:
        cfg = dict(config)
    if arg is not None:
        cfg["arg"] = arg
    path: Path | None = None
    if spec.weights is not None or weights is not None:
        if random_init != "always":
            try:
                path = find_weights(spec, str(weights) if weights is not None else None)
            except WeightsNotFound:
                if random_init == "never" or weights is not None:
                    raise
                log.warning("encoder %s: no weights found; using a seeded random initialisation (seed %d)",
                            spec.id, seed)
    device = str(resolve_device(device))
    factory = resolve_ref(spec.factory)
    encoder = factory(spec, config=cfg, weights=path, device=device, seed=seed,
                      strict=strict, trust_checkpoint=trust_checkpoint)
    if not isinstance(encoder, AudioEncoder):
        raise TypeError(f"encoder {spec.id}: factory {spec.factory} returned {type(encoder).__name__}, "
                        "not an AudioEncoder")
    return encoder
