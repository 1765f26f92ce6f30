"""Held-out evaluation of an alignment run, and the eval-mode passes after training.

Held-out metrics (every validation, and before the first epoch)
    ``val_cka``
        Debiased linear CKA (:func:`acubench.align.losses.debiased_linear_cka`)
        between the encoder's pooled embeddings and the teacher's report
        vectors of the held-out pairs: what alignment is meant to raise, read
        where the probes read, out of reach of the projection heads.
    ``val_cka_shuffled``
        The same with the pairing permuted (mean over :data:`N_PERMUTATIONS`
        seeded permutations): the floor that an encoder unrelated to the
        reports would reach. Alignment has worked where ``val_cka`` rises
        clearly above both its starting value and this floor.
    ``val_cka_projected``
        The same between the two projected sides (runs with heads only).
    ``val_mam``
        The masked-modelling loss with fixed masks.

Retrieval (after training)
    Audio→report and report→audio recall@k on the held-out pairs, in the
    space zero-shot scoring uses (the space map fitted on the training pairs).
    Recordings that share a report text count as one report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.align.data import PairAudio, derive_seed
from acubench.align.heads import map_audio, map_text
from acubench.align.losses import debiased_linear_cka
from acubench.align.model import AlignmentModel
from acubench.encoder import AudioEncoder
from acubench.specs import ClipPolicy

#: Permutations averaged into the shuffled-pair floor.
N_PERMUTATIONS = 20
#: Ranks reported by the retrieval metrics.
RECALL_AT = (1, 5, 10)

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@torch.no_grad()
def recalibrate_batchnorm(encoder: AudioEncoder, batches: Iterable[Tensor]) -> int:
    """Re-estimate the running statistics of the encoder's BatchNorm layers with its current weights.

    The statistics are reset and recomputed as a cumulative average over
    ``batches`` of model inputs (as ``torch.optim.swa_utils.update_bn``), so
    that eval-mode embeddings match the trained weights even after a short
    run, where running averages (momentum 0.1, or 0.01 in EfficientNet) would
    still lag behind the weights.

    Returns
    -------
    int
        Number of BatchNorm layers recalibrated (0: nothing to do).
    """
    layers = [m for m in encoder.modules() if isinstance(m, _BATCHNORMS)]
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    was_training = encoder.training
    encoder.train()
    try:
        for inputs in batches:
            encoder.pool(encoder.forward_tokens(inputs))
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        encoder.train(was_training)
    return len(layers)


def clean_batches(encoder: AudioEncoder, data: PairAudio, batch_size: int) -> Iterator[Tensor]:
    """Featurised first windows of every row of ``data`` (no augmentation), ``batch_size`` at a time."""
    for start in range(0, len(data), batch_size):
        rows = range(start, min(len(data), start + batch_size))
        yield encoder.featurize([torch.from_numpy(data.windows(i)[0]) for i in rows])


def shuffled_floor(embeddings: Tensor, text: Tensor, seed: int, n: int = N_PERMUTATIONS) -> float:
    """Mean debiased CKA of ``embeddings`` against ``n`` seeded permutations of ``text``'s rows."""
    rng = np.random.default_rng(derive_seed(seed, "shuffled-floor"))
    values = [float(debiased_linear_cka(embeddings, text[torch.from_numpy(rng.permutation(len(text)))]))
              for _ in range(n)]
    return float(np.mean(values))


@torch.no_grad()
def loss_sides(model: AlignmentModel, data: PairAudio, text: Tensor, batch_size: int,
               device: torch.device) -> tuple[Tensor, Tensor]:
    """Both sides of the loss for every row of ``data`` (first window, eval mode), streamed in batches."""
    was_training = model.training
    model.eval()
    try:
        emb = torch.cat([model.embed(x.to(device)).float().cpu()
                         for x in clean_batches(model.encoder, data, batch_size)])
        audio, language = model.sides(emb.to(device), text.to(device))
        return audio.cpu(), language.cpu()
    finally:
        model.train(was_training)


def retrieval(audio: Tensor, text: Tensor, reports: list[str], space_map: dict[str, Tensor]) -> dict[str, float]:
    """Audio→report and report→audio recall@k of paired rows, in the zero-shot space.

    Parameters
    ----------
    audio, text : Tensor, shape (N, D)
        The two loss sides of N held-out pairs.
    reports : list of str
        The N report texts; rows with the same text are one report.
    space_map : dict
        From :func:`acubench.align.heads.fit_space_map` on the training pairs.

    Returns
    -------
    dict
        ``audio_to_report_r@k``, ``report_to_audio_r@k`` for k in :data:`RECALL_AT`,
        ``n_reports`` and ``chance_r@1`` (1 / number of distinct reports).
    """
    unique = list(dict.fromkeys(reports))
    which = torch.tensor([unique.index(r) for r in reports])
    first = torch.tensor([reports.index(r) for r in unique])
    a = F.normalize(map_audio(audio, space_map), dim=1)
    t = F.normalize(map_text(text[first], space_map), dim=1)
    sim = a @ t.T  # (N recordings, R reports)
    out: dict[str, float] = {"n_reports": len(unique), "chance_r@1": 1.0 / len(unique)}
    for k in RECALL_AT:
        kk = min(k, len(unique))
        top = sim.topk(kk, dim=1).indices
        out[f"audio_to_report_r@{k}"] = float((top == which[:, None]).any(dim=1).float().mean())
        top_audio = sim.T.topk(min(k, len(reports)), dim=1).indices  # (R, k) recordings
        out[f"report_to_audio_r@{k}"] = float((which[top_audio] == torch.arange(len(unique))[:, None])
                                              .any(dim=1).float().mean())
    return out


class Validation:
    """Held-out pairs, featurised once; evaluated with fixed masks after every epoch."""

    def __init__(self, model: AlignmentModel, rows: pd.DataFrame, text: Tensor, policy: ClipPolicy,
                 batch_size: int, seed: int, device: torch.device) -> None:
        self.model = model
        self.rows = rows
        self.text = text
        self.seed = seed
        self.device = device
        self.ready = len(rows) >= 4  # debiased CKA needs 4 pairs
        self.data = PairAudio(rows, model.encoder.sample_rate, policy, seed=seed, train=False, augment_config=None)
        self.inputs = [x.cpu() for x in clean_batches(model.encoder, self.data, batch_size)] if self.ready else []

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        model = self.model
        was_training = model.training
        model.eval()
        try:
            embeddings, mam = [], []
            # Fixed masks and a private RNG stream: comparable across epochs, training RNG untouched.
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(derive_seed(self.seed, "validation"))
                for b, inputs in enumerate(self.inputs):
                    x = inputs.to(self.device)
                    embeddings.append(model.embed(x).float().cpu())
                    if model.config.lambda_mam > 0:
                        generator = torch.Generator().manual_seed(derive_seed(self.seed, "validation-mask", b))
                        mam.append(float(model.mam(x, generator)) * x.shape[0])
            emb = torch.cat(embeddings)
            out = {"val_cka": float(debiased_linear_cka(emb, self.text)),
                   "val_cka_shuffled": shuffled_floor(emb, self.text, self.seed), "val_pairs": len(self.rows)}
            if model.audio_head is not None:
                audio, language = model.sides(emb.to(self.device), self.text.to(self.device))
                out["val_cka_projected"] = float(debiased_linear_cka(audio.cpu(), language.cpu()))
            if mam:
                out["val_mam"] = sum(mam) / len(self.rows)
            return out
        finally:
            model.train(was_training)
