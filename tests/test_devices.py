"""--device and --precision: auto choices, bad names, and a device this machine lacks."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from acubench.engine import devices
from acubench.engine.devices import DeviceError, resolve_device, resolve_precision


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name, message", [
    ("tpu", "--device 'tpu': not a device acubench runs on; use auto, cpu, cuda, cuda:N or mps"),
    ("cuda:x", "not a device acubench runs on"),
])
def test_unknown_device_names_the_valid_ones(name, message):
    with pytest.raises(DeviceError, match=message.replace("(", r"\(")):
        resolve_device(name)


def test_cuda_without_cuda_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="--device cuda: this machine has no usable CUDA GPU"):
        resolve_device("cuda")


def test_precision_auto_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", torch.device("mps")) == "fp32"
    with pytest.raises(DeviceError, match="--precision 'fp16': use one of auto, fp32, bf16"):
        resolve_precision("fp16", cpu)


def test_explicit_bf16_on_a_cpu_without_it_warns_with_the_measured_cost(monkeypatch, caplog):
    assert devices.bf16_slowdown(n=64, repeats=2) > 0
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(devices, "bf16_slowdown", lambda: 4.2)
    with caplog.at_level(logging.WARNING, logger="acubench.engine.devices"):
        assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert "4.2× slower than fp32 here (measured now)" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device, message", [
    ("cuda", "acubench: error: --device cuda: this machine has no usable CUDA GPU"),
    ("tpu", "acubench: error: --device 'tpu': not a device acubench runs on"),
])
def test_cli_device_errors_are_one_line_exit_2(tmp_path, device, message):
    wav = tmp_path / "a.wav"
    import numpy as np
    import soundfile as sf

    sf.write(str(wav), (0.1 * np.sin(np.arange(16000) / 3)).astype("float32"), 16000)
    proc = subprocess.run([sys.executable, "-m", "acubench.cli", "embed", str(wav), "-e", "logmel", "--device", device,
                           "-o", str(tmp_path / "e.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [message + proc.stderr.strip().split(message, 1)[1]]
    assert "Traceback" not in proc.stderr and not (tmp_path / "e.npy").exists()
