"""Checkpoint safety and strict fitting."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from acubench.checkpoints import (
    CheckpointError,
    checkpoint_format,
    fit_state_dict,
    load_checkpoint,
    strip_prefix,
    unwrap_state_dict,
)
from acubench.specs import EncoderSpec, WeightsRef
from acubench.weights import WeightsNotFound, file_sha256, resolve_weights


class Evil:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("pwned",))


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_safetensors_and_tensor_pickles_load(tmp_path):
    net = _net()
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "w.ckpt")
    a = load_checkpoint(tmp_path / "w.safetensors")
    b = unwrap_state_dict(load_checkpoint(tmp_path / "w.ckpt"))
    assert set(a) == set(b) == set(net.state_dict())


def test_pickled_objects_need_trust(tmp_path, capsys):
    torch.save({"state_dict": _net().state_dict(), "hparams": Evil()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="--trust-checkpoint") as err:
        load_checkpoint(tmp_path / "evil.ckpt")
    assert "evil.ckpt" in str(err.value)
    assert "pwned" not in capsys.readouterr().out
    loaded = load_checkpoint(tmp_path / "evil.ckpt", trust=True)
    assert "state_dict" in loaded


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"broken\.pt"):
        load_checkpoint(bad)


@pytest.mark.parametrize("content, says", [
    (bytes(range(256)) * 4, r"not a checkpoint: neither a torch file \(zip or pickle\) nor safetensors"),
    (b"\x80\x02" + bytes(range(7, 200)), r"a damaged pickle checkpoint, or not torch's \(Unsupported operand"),
    (b"PK\x03\x04" + bytes(100), r"a damaged zip checkpoint"),
    (b"\n  <!DOCTYPE html><html><body>403 Forbidden</body></html>", r"an HTML page .*download the file again"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", r"a Git LFS pointer.*git lfs pull"),
    (b"", r"empty file"),
])
def test_files_that_are_not_checkpoints_are_named_so_never_trust_advice(tmp_path, content, says):
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(content)
    for trust in (False, True):
        with pytest.raises(CheckpointError, match=says) as err:
            load_checkpoint(bad, trust=trust)
        assert "--trust-checkpoint" not in str(err.value) and str(bad) in str(err.value)


def test_format_is_read_from_the_content_not_the_suffix(tmp_path):
    net = _net()
    save_file(net.state_dict(), str(tmp_path / "weights.bin"))
    torch.save(net.state_dict(), tmp_path / "w.safetensors")
    torch.save(net.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert (checkpoint_format(tmp_path / "weights.bin"), checkpoint_format(tmp_path / "w.safetensors"),
            checkpoint_format(tmp_path / "legacy.pt")) == ("safetensors", "zip", "pickle")
    for name in ("weights.bin", "w.safetensors", "legacy.pt"):
        assert set(load_checkpoint(tmp_path / name)) == set(net.state_dict())


def test_non_strict_loading_warns_with_the_keys(caplog):
    sd = dict(_net().state_dict())
    sd.pop("2.bias")
    sd["extra.weight"] = torch.zeros(1)
    with caplog.at_level("WARNING", logger="acubench.checkpoints"):
        fit_state_dict(_net(), sd, strict=False, source="x.ckpt")
    (record,) = caplog.records
    assert "x.ckpt" in record.message and "'2.bias'" in record.message and "'extra.weight'" in record.message


@pytest.mark.parametrize("wrapper", ["raw", "state_dict", "audio_model_state_dict", "model"])
def test_unwrap_known_layouts(wrapper):
    sd = _net().state_dict()
    obj = sd if wrapper == "raw" else {wrapper: sd, "epoch": 1}
    assert set(unwrap_state_dict(obj)) == set(sd)


def test_unwrap_rejects_non_checkpoints():
    with pytest.raises(CheckpointError, match="no state dict"):
        unwrap_state_dict({"epoch": 1})


def test_fit_strict_lists_missing_unexpected_and_shapes():
    net = _net()
    sd = dict(net.state_dict())
    sd.pop("2.bias")
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        fit_state_dict(_net(), sd, source="x.ckpt")
    msg = str(err.value)
    assert "x.ckpt" in msg and "'2.bias'" in msg and "'extra.weight'" in msg and "--non-strict" in msg
    warnings = fit_state_dict(_net(), sd, strict=False)
    assert len(warnings) == 2
    sd = dict(net.state_dict())
    sd["0.weight"] = torch.zeros(5, 4)
    with pytest.raises(CheckpointError, match=r"0\.weight: checkpoint \(5, 4\) vs model \(3, 4\)"):
        fit_state_dict(_net(), sd, strict=False)


def test_fit_loads_values_and_ignores_declared_prefixes():
    src, dst = _net(), nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    sd = {f"encoder.{k}": v for k, v in src.state_dict().items()}
    sd["g.weight"] = torch.zeros(2)
    fit_state_dict(dst, strip_prefix(sd, "encoder."), source="c")
    assert torch.equal(dst[0].weight, src[0].weight)
    fit_state_dict(dst, {**src.state_dict(), "head.weight": torch.zeros(1)}, ignore_unexpected=("head.",))


def test_resolution_order_and_message(tmp_path, monkeypatch):
    spec = EncoderSpec(id="toy", factory="m:f", sample_rate=16000, embed_dim=4,
                       weights=WeightsRef(filename="toy.ckpt", hf_repo="org/toy", url="https://example.org/toy"))
    explicit = tmp_path / "mine.ckpt"
    explicit.write_bytes(b"x")
    assert resolve_weights(spec, str(explicit)) == explicit
    with pytest.raises(WeightsNotFound) as err:
        resolve_weights(spec)
    message = str(err.value)
    assert "toy.ckpt" in message and "--weights" in message and "https://example.org/toy" in message
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "toy.ckpt").write_bytes(b"y")
    monkeypatch.setenv("ACUBENCH_WEIGHTS", str(folder))
    assert resolve_weights(spec) == folder / "toy.ckpt"
    with pytest.raises(WeightsNotFound, match=r"nope\.ckpt"):
        resolve_weights(spec, str(tmp_path / "nope.ckpt"))


def test_sha256_changes_with_content(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    p.write_bytes(b"abcd")
    assert file_sha256(p) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_real_pickle_torch_cannot_read_safely_still_gets_the_trust_advice(tmp_path):
    """Protocol 0 (text opcodes such as PUT) is outside torch's weights-only subset, yet a genuine pickle."""
    import pickle

    path = tmp_path / "old.pt"
    path.write_bytes(b"\x80\x02" + pickle.dumps({"w": [1.0, 2.0]}, protocol=0))
    with pytest.raises(CheckpointError, match=r"beyond tensors .*--trust-checkpoint"):
        load_checkpoint(path)
