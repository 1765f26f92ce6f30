"""Finding and loading released checkpoints, safely and strictly.

* Resolution: an explicit path or Hub id, then ``$ACUBENCH_WEIGHTS``, then
  the Hugging Face cache, then (unless offline) a Hub download.
* Loading: safetensors, or ``torch.load(weights_only=True)``. A checkpoint
  that needs full unpickling is refused unless the user passes
  ``--trust-checkpoint`` — unpickling runs arbitrary code from the file.
* Fitting: strict by default; a mismatch lists the missing and unexpected
  keys and the layers whose shapes differ.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from acubench.paths import WEIGHTS_ENV, weights_dir
from acubench.specs import EncoderSpec


class WeightsNotFound(FileNotFoundError):
    """No weights for an encoder in any of the places acubench looks."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read safely, or does not fit the model."""


def locate_weights(spec: EncoderSpec) -> Path | None:
    """Weights already on this machine (``$ACUBENCH_WEIGHTS`` or the HF cache); never downloads."""
    ref = spec.weights
    if ref is None:
        return None
    folder = weights_dir()
    if folder is not None and ref.filename and (folder / ref.filename).exists():
        return folder / ref.filename
    if ref.hf_repo:
        try:
            from huggingface_hub import hf_hub_download, snapshot_download

            if ref.filename:
                return Path(hf_hub_download(ref.hf_repo, ref.filename, local_files_only=True))
            return Path(snapshot_download(ref.hf_repo, local_files_only=True))
        except Exception:
            return None
    return None


def _hub_download(repo: str, filename: str) -> Path | None:
    """A file from the Hugging Face cache, downloading it unless offline."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    try:
        return Path(hf_hub_download(repo, filename, local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        return Path(hf_hub_download(repo, filename))
    except Exception:
        return None


def resolve_weights(spec: EncoderSpec, source: str | None = None) -> Path:
    """Locate the weights of ``spec``.

    Parameters
    ----------
    spec : EncoderSpec
    source : str, optional
        A local file or folder, or a Hub reference ``org/repo`` or
        ``org/repo:filename``. Without it: ``$ACUBENCH_WEIGHTS/<filename>``,
        then the Hugging Face cache/Hub for ``spec.weights``.

    Raises
    ------
    WeightsNotFound
        Listing every place tried and how to provide the file.
    """
    ref = spec.weights
    tried: list[str] = []
    if source:
        path = Path(source).expanduser()
        if path.exists():
            return path
        tried.append(f"path {path}")
        if "/" in source and not source.startswith((".", "/", "~")):
            repo, _, filename = source.partition(":")
            got = _hub_download(repo, filename or (ref.filename if ref else ""))
            if got is not None:
                return got
            tried.append(f"Hugging Face {repo}:{filename or (ref.filename if ref else '')}")
        raise WeightsNotFound(f"encoder {spec.id}: weights {source!r} not found (tried {'; '.join(tried)})")
    if ref is None:
        raise WeightsNotFound(f"encoder {spec.id} has no released weights")
    folder = weights_dir()
    if folder is not None and ref.filename:
        candidate = folder / ref.filename
        if candidate.exists():
            return candidate
        tried.append(str(candidate))
    else:
        tried.append(f"${WEIGHTS_ENV} (unset)")
    if ref.hf_repo:
        got = _hub_download(ref.hf_repo, ref.filename)
        if got is not None:
            return got
        tried.append(f"Hugging Face {ref.hf_repo}:{ref.filename} (cache and Hub)")
    where = ref.url or (f"https://huggingface.co/{ref.hf_repo}" if ref.hf_repo else "its authors")
    raise WeightsNotFound(
        f"encoder {spec.id}: no weights found (tried {'; '.join(tried)}). "
        f"Download {ref.filename or 'the checkpoint'} from {where} and pass --weights PATH, "
        f"or put it in ${WEIGHTS_ENV}; or run with --random-init to benchmark an untrained model."
    )


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (of every file, in name order, for a folder)."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f.relative_to(path).as_posix().encode())
            digest.update(file_sha256(f).encode())
        return digest.hexdigest()
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def load_checkpoint(path: str | os.PathLike, *, trust: bool = False) -> Any:
    """Read a checkpoint file without executing code from it.

    Parameters
    ----------
    path : path-like
        ``.safetensors`` or a torch pickle (``.ckpt``, ``.pt``, ``.pth``, ``.bin``).
    trust : bool, default False
        Allow full unpickling (``weights_only=False``) for files that need it.
        Only for files from a source you trust.

    Raises
    ------
    CheckpointError
        If the file is unreadable, or needs full unpickling and ``trust`` is False.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise CheckpointError(
                f"{path}: this checkpoint holds Python objects beyond tensors and needs full unpickling, "
                f"which can execute code from the file. If you trust its source, pass --trust-checkpoint "
                f"(Python: trust_checkpoint=True). Detail: {str(exc).splitlines()[0]}"
            ) from None
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read even with --trust-checkpoint ({exc})") from None


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
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return problems
