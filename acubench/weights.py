"""Finding released checkpoints: an explicit path or Hub id, then
``$ACUBENCH_WEIGHTS``, then the Hugging Face cache, then (unless offline) a
Hub download.

Reading them is :mod:`acubench.checkpoints`' job; this module imports no
torch, so ``acubench encoders`` can say which weights are present at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from acubench.errors import AcubenchError
from acubench.paths import WEIGHTS_ENV, weights_dir
from acubench.specs import EncoderSpec


class WeightsNotFound(AcubenchError, FileNotFoundError):
    """No weights for an encoder in any of the places acubench looks."""


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
    """A file (``filename=""``: the whole repository folder) from the Hugging Face cache,
    downloading it unless offline."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        return None

    def fetch(**kw: Any) -> str:
        return hf_hub_download(repo, filename, **kw) if filename else snapshot_download(repo, **kw)

    try:
        return Path(fetch(local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable():
        return None
    try:
        return Path(fetch())
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint answers at all (one quick request per process).

    huggingface_hub retries a refused connection with back-off (~23 s per file),
    which an offline machine would pay on every run; one short probe avoids it.
    """
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return True  # it answered (with an error status): reachable
    except (OSError, ValueError):
        return False
    return True


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
