"""Reading released checkpoints, safely and strictly.

* Loading: safetensors, or ``torch.load(weights_only=True)``. A checkpoint
  that needs full unpickling is refused unless the user passes
  ``--trust-checkpoint`` — unpickling runs arbitrary code from the file.
* Fitting: strict by default; a mismatch lists the missing and unexpected
  keys and the layers whose shapes differ.

Finding the file is :mod:`acubench.weights`' job.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from acubench.errors import AcubenchError

log = logging.getLogger(__name__)


class CheckpointError(AcubenchError, ValueError):
    """A checkpoint that cannot be read safely, or does not fit the model."""


#: Plain-data classes that training scripts pickle next to the weights (MAE/AudioMAE's
#: ``misc.save_model`` stores the ``args`` Namespace). Rebuilding one only sets
#: attributes, so ``weights_only`` loading may accept them without running code.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


#: The first bytes of files that are sometimes saved under a checkpoint's name, and what they are.
_NOT_CHECKPOINTS = (
    (b"version https://git-lfs", ("a Git LFS pointer, not the weights: fetch them with `git lfs pull` (or "
                                  "download the file itself)")),
    (b"<!doctype html", ("an HTML page (an error or login page saved by a failed download), not a checkpoint: "
                         "download the file again")),
    (b"<html", ("an HTML page (an error or login page saved by a failed download), not a checkpoint: download the "
                "file again")),
    (b"<?xml", "an XML document (a storage service's error reply?), not a checkpoint: download the file again"),
    (b"{", "a JSON document (a config or an error reply?), not a checkpoint: point at the weights file"),
)


def checkpoint_format(path: str | os.PathLike) -> str:
    """What a weights file is, from its first bytes: ``"safetensors"``, ``"zip"`` or ``"pickle"``.

    torch writes a zip archive (since 1.6) or, in the legacy format, a pickle
    stream (opcode ``PROTO``, then the protocol); safetensors files start with
    the little-endian length of their JSON header, then ``{``. Anything else
    (random bytes, an HTML error page, a Git LFS pointer) is not a checkpoint,
    and is never answered with advice to unpickle it.

    Raises
    ------
    CheckpointError
        Saying what the file looks like instead, and how to get the real one.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise CheckpointError(f"{path}: empty file (an interrupted download?); download the checkpoint again")
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    text = head.lstrip().lower()
    for magic, what in _NOT_CHECKPOINTS:
        if text.startswith(magic):
            raise CheckpointError(f"{path}: {what}")
    raise CheckpointError(f"{path}: not a checkpoint: neither a torch file (zip or pickle) nor safetensors "
                          f"(it starts with {head[:16]!r}). Is the path right, and the download complete?")


def load_checkpoint(path: str | os.PathLike, *, trust: bool = False) -> Any:
    """Read a checkpoint file without executing code from it.

    Parameters
    ----------
    path : path-like
        A safetensors file or a torch file (``.ckpt``, ``.pt``, ``.pth``,
        ``.bin``); the format is recognised from the content, not the name.
    trust : bool, default False
        Allow full unpickling (``weights_only=False``) for files that need it.
        Only for files from a source you trust.

    Raises
    ------
    CheckpointError
        If the file is not a checkpoint at all, is damaged, or needs full
        unpickling and ``trust`` is False.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    kind = checkpoint_format(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CheckpointError(f"{path}: a damaged safetensors file ({exc}); download it again") from None
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if needs is None and not _is_pickle(path, kind):  # bytes that only look like a pickle: trust cannot help
            raise CheckpointError(f"{path}: a damaged {kind} checkpoint, or not torch's "
                                  f"({_weights_only_reason(exc)}); download it again") from None
        if not trust:
            what = f"it asks for the Python object {needs.group(1)}" if needs else _weights_only_reason(exc)
            raise CheckpointError(
                f"{path}: this checkpoint holds Python objects beyond tensors ({what}) and loading it means full "
                f"unpickling, which can execute code from the file. If you trust its source, pass "
                f"--trust-checkpoint (Python: trust_checkpoint=True)"
            ) from None
    except Exception as exc:
        raise CheckpointError(f"{path}: a damaged {kind} checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); download it again") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read even with --trust-checkpoint ({exc})") from None


def _is_pickle(path: Path, kind: str) -> bool:
    """Whether the file's pickle stream (a zip checkpoint's ``data.pkl``) parses, opcode by opcode.

    :func:`pickletools.genops` decodes the opcodes without building any object
    (so it runs no code); random bytes fail within a few opcodes.
    """
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
                with archive.open(name) as fh:
                    return _stops(fh)
        with path.open("rb") as fh:
            return _stops(fh)
    except (zipfile.BadZipFile, StopIteration, OSError):
        return False


def _stops(fh: Any) -> bool:
    try:
        return any(op.name == "STOP" for op, _, _ in pickletools.genops(fh))
    except Exception:  # genops raises ValueError, struct.error, UnicodeDecodeError… on bytes that are no pickle
        return False


def _weights_only_reason(exc: Exception) -> str:
    """The one informative line of torch's long weights-only message."""
    text = " ".join(str(exc).split())
    found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\s+Check the documentation|$)", text)
    return found.group(1) if found else (text[:160] or type(exc).__name__)


def unwrap_state_dict(obj: Any, *, path: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensor mapping inside a checkpoint, whatever its wrapper.

    Accepts a raw state dict, a Lightning checkpoint (``state_dict``), an
    AcuLa checkpoint (``audio_model_state_dict``), a timm/MAE release
    (``model``) or ``{"module": …}`` from DDP saves.
    """
    if isinstance(obj, Mapping):
        for key in ("audio_model_state_dict", "state_dict", "model", "module"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise CheckpointError(
        f"{path}: no state dict found (looked for a tensor mapping, or one under "
        f"'audio_model_state_dict', 'state_dict', 'model' or 'module')"
    )


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys under ``prefix`` with it removed; other keys are dropped."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def fit_state_dict(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    source: str = "checkpoint",
    ignore_missing: tuple[str, ...] = (),
    ignore_unexpected: tuple[str, ...] = (),
) -> list[str]:
    """Load ``state`` into ``module``, checking keys and shapes first.

    Parameters
    ----------
    strict : bool, default True
        Missing or unexpected keys are an error (``--non-strict`` relaxes it
        to a returned list of warnings). Shape mismatches are always an error.
    ignore_missing, ignore_unexpected : tuple of str
        Key prefixes that are legitimately absent/extra in released files
        (e.g. a projection head used only in pre-training).

    Returns
    -------
    list of str
        Warnings about keys that were skipped (non-strict mode).

    Raises
    ------
    CheckpointError
        Naming up to ten missing and ten unexpected keys, and every layer
        whose shape differs.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(ignore_missing)]
    unexpected = [k for k in state if k not in own and not k.startswith(ignore_unexpected)]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__}: shape mismatch in "
            f"{len(shapes)} layer(s): {'; '.join(shapes[:10])}. Is this the right encoder/config?"
        )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) {missing[:10]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) {unexpected[:10]}")
    if problems and strict:
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__}: {'; '.join(problems)}. "
            f"Pass --non-strict to load the matching keys anyway."
        )
    check_finite(state, source=source, keys=[k for k in state if k in own])
    if problems:  # --non-strict: the layers named here keep their random initialisation, and the user must know
        log.warning("%s loaded into %s without: %s", source, type(module).__name__, "; ".join(problems))
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return problems


def check_finite(state: Mapping[str, torch.Tensor], *, source: str = "checkpoint",
                 keys: list[str] | None = None) -> None:
    """Refuse weights holding NaN or Inf: every embedding computed from them would be garbage.

    Raises
    ------
    CheckpointError
        Naming up to five tensors with non-finite values and how many there are.
    """
    bad = []
    for key in (state if keys is None else keys):
        tensor = state[key]
        if tensor.is_floating_point() or tensor.is_complex():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                bad.append(f"{key} ({count} of {tensor.numel()})")
    if bad:
        raise CheckpointError(f"{source}: {len(bad)} tensor(s) hold NaN/Inf values: {', '.join(bad[:5])}. The file is "
                              f"damaged or the training that wrote it diverged; use another checkpoint")


#: Weight files of a Hugging Face model folder, in the order they are preferred.
_HF_WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors",
                    "pytorch_model.bin.index.json", "pytorch_model.bin")


def read_tensors(path: str | os.PathLike, prefixes: tuple[str, ...] = ("",), *,
                 trust: bool = False) -> dict[str, torch.Tensor]:
    """The tensors whose names start with one of ``prefixes``, and only those.

    Safetensors are read tensor by tensor (``safe_open``), and of a sharded
    checkpoint only the shards that hold a wanted tensor are opened, so the
    audio tower of a multi-billion-parameter model is read without loading
    its language model.

    Parameters
    ----------
    path : path-like
        A Hugging Face model folder (``model.safetensors[.index.json]`` or
        ``pytorch_model.bin[.index.json]``), a shard index ``*.index.json``,
        a ``.safetensors`` file, or a torch checkpoint file.
    prefixes : tuple of str
        Name prefixes to keep (the names are returned unchanged).
    trust : bool
        Passed to :func:`load_checkpoint` for pickled files.

    Raises
    ------
    CheckpointError
        If the folder holds no weight file, a shard named by the index is
        missing, or no tensor matches ``prefixes``.
    """
    import json

    path = Path(path)
    if path.is_dir():
        found = next((path / name for name in _HF_WEIGHT_FILES if (path / name).is_file()), None)
        if found is None:
            raise CheckpointError(
                f"{path}: no weights in this folder (expected one of {', '.join(_HF_WEIGHT_FILES)}); "
                f"download the complete model repository, e.g. `huggingface-cli download <repo> --local-dir {path}`"
            )
        path = found
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file or model folder")
    out: dict[str, torch.Tensor] = {}
    if path.name.endswith(".index.json"):
        try:
            weight_map = json.loads(path.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: not a readable shard index ({exc})") from None
        shards: dict[str, list[str]] = {}
        for key, shard in weight_map.items():
            if key.startswith(prefixes):
                shards.setdefault(shard, []).append(key)
        for shard, keys in sorted(shards.items()):
            shard_path = path.parent / shard
            if not shard_path.is_file():
                raise CheckpointError(
                    f"{shard_path}: shard listed in {path.name} is missing (incomplete download?); "
                    f"download the complete model repository again"
                )
            wanted = set(keys)
            tensors, names = _read_file(shard_path, wanted.__contains__, trust=trust)
            absent = sorted(wanted - set(names))
            if absent:
                raise CheckpointError(f"{shard_path}: tensors that {path.name} places here are absent: {absent[:5]}")
            out.update(tensors)
        sample = list(weight_map)[:5]
    else:
        out, names = _read_file(path, lambda key: key.startswith(prefixes), trust=trust)
        sample = names[:5]
    if not out:
        raise CheckpointError(
            f"{path}: no tensor named {' or '.join(repr(p + '...') for p in prefixes)} "
            f"(it holds e.g. {sample}). Is this the right model?"
        )
    return out


def _read_file(path: Path, select: Callable[[str], bool], *, trust: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of one file whose names ``select`` accepts, and all the file's names."""
    if checkpoint_format(path) != "safetensors":
        state = unwrap_state_dict(load_checkpoint(path, trust=trust), path=str(path))
        return {k: v for k, v in state.items() if select(k)}, list(state)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            names = list(fh.keys())
            return {k: fh.get_tensor(k) for k in names if select(k)}, names
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and values (in name order).

    Identifies the weights an encoder actually uses when they were read out
    of a larger checkpoint, where hashing the whole multi-GB file would be
    slow and would change with parts the encoder never reads.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()
