"""Choosing where and in which precision encoders run: ``--device auto`` and ``--precision auto``.

``auto`` picks CUDA if it is available, then Apple's MPS, else the CPU; and
bf16 where the hardware computes it natively (CUDA GPUs that support it, CPUs
with AVX-512 BF16 or AMX), fp32 elsewhere. bf16 on a CPU without native
support is emulated and slower than fp32, so asking for it explicitly there
warns with the cost measured on the spot.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Literal

import torch

from acubench.errors import AcubenchError

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
PRECISIONS = ("auto", "fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceError(AcubenchError, ValueError):
    """A device or precision that does not exist here; the message names what does."""


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The device ``name`` stands for: ``auto`` → CUDA, then MPS, else CPU.

    Raises
    ------
    DeviceError
        For an unknown name (``tpu``), or a device this machine lacks (``cuda`` without CUDA).
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = str(name).strip().lower()
    if not _DEVICE.match(name):
        raise DeviceError(f"--device {name!r}: not a device acubench runs on; use auto, cpu, cuda, cuda:N or mps")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: this machine has no usable CUDA GPU (torch {torch.__version__}, "
                              f"CUDA build {torch.version.cuda or 'none'}); use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: there are {torch.cuda.device_count()} CUDA device(s), "
                              f"cuda:0…cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"--device {name}: Apple MPS is not available here; use --device cpu or auto")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX-512 BF16 or AMX tiles)."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            continue
    return False


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """``auto`` → bf16 where ``device`` computes it natively, else fp32; ``fp32``/``bf16`` as given.

    An explicit ``bf16`` on a CPU without native bf16 is honoured, with a
    warning that states its measured cost (:func:`bf16_slowdown`).

    Raises
    ------
    DeviceError
        For a precision other than auto, fp32, bf16.
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return "fp32"
    native = _native_bf16(device)
    if precision == "auto":
        return "bf16" if native else "fp32"
    if not native and device.type == "cpu":
        log.warning("--precision bf16 on a CPU without native bf16 (no AVX-512 BF16 or AMX): matrix products run "
                    "%.1f× slower than fp32 here (measured now); --precision fp32 or auto is faster", bf16_slowdown())
    return "bf16"


def _native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def bf16_slowdown(n: int = 512, repeats: int = 8) -> float:
    """fp32 over bf16-autocast throughput of an n × n matrix product on this CPU (> 1: bf16 is slower)."""
    a, b = torch.randn(n, n), torch.randn(n, n)

    def rate(cast: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cast):
            a @ b
            t0 = time.perf_counter()
            for _ in range(repeats):
                a @ b
        return time.perf_counter() - t0

    return rate(True) / rate(False)


def autocast_dtype(precision: Precision) -> torch.dtype | None:
    """The ``torch.autocast`` dtype of a resolved precision (``None`` for fp32)."""
    return torch.bfloat16 if precision == "bf16" else None
