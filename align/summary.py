"""``alignment.json``: what an alignment run was and what it did, beside its checkpoint.

One file per run folder, copied into every ``acubench run`` folder that
evaluates the checkpoint, so a row of the leaderboard can be traced to the
corpus, teacher and settings that made it and to the evidence that the
alignment aligned:

``heldout_cka_before`` / ``heldout_cka_after``
    Debiased linear CKA between the encoder's pooled embeddings and the
    teacher's report vectors on the held-out subjects' pairs, before the
    first step and after the last epoch.
``heldout_cka_shuffled``
    The same after training with the pairing permuted (the floor).
``aligned``
    ``after > before`` and ``after > shuffled``, the minimum a run must show.
``masked_modelling``
    ``kind`` (``ssl_loss``: the encoder's own MAE decoder; ``generic head``;
    ``off``) and ``notice``, the one line saying why an encoder falls short
    of its own loss (e.g. an AudioMAE checkpoint without its decoder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMAT = 1


def _first_last(curve: list[dict[str, Any]], key: str) -> tuple[float | None, float | None]:
    values = [r[key] for r in curve if key in r]
    return (values[0], values[-1]) if values else (None, None)


def build_summary(metadata: Mapping[str, Any], result: Any) -> dict[str, Any]:
    """The ``alignment.json`` payload of a finished run.

    Parameters
    ----------
    metadata : mapping
        The run's metadata (``run.json``: encoder, base weights, corpus, teacher, preset, settings, seed…).
    result : TrainResult
        What :func:`acubench.align.trainer.train` returned.
    """
    curve = [{k: v for k, v in r.items() if k != "type"} for r in result.history]
    before, after = _first_last(curve, "val_cka")
    shuffled_before, shuffled = _first_last(curve, "val_cka_shuffled")
    mam_before, mam_after = _first_last(curve, "val_mam")
    train_mam = [r["train_mam"] for r in curve if "train_mam" in r]
    settings = metadata["align_config"]
    return {
        "format": FORMAT,
        "key": metadata.get("key"),
        "encoder": metadata["encoder"],
        "config": metadata["config"],
        "base_weights": metadata["base_weights"],
        "preset": metadata["preset"],
        "overrides": metadata["overrides"],
        "settings": settings,
        "control": settings.get("control", "none"),
        "seed": metadata["seed"],
        "teacher": metadata["teacher"],
        "masked_modelling": metadata.get("masked_modelling"),
        "corpus": {**metadata["corpus"], **result.counts},
        "curve": curve,
        "heldout_cka_before": before,
        "heldout_cka_after": after,
        "heldout_cka_shuffled": shuffled,
        "heldout_cka_shuffled_before": shuffled_before,
        "heldout_mam_before": mam_before,
        "heldout_mam_after": mam_after,
        "train_mam_last_epoch": train_mam[-1] if train_mam else None,
        "aligned": None if after is None else bool(after > before and after > shuffled),
        "retrieval": dict(result.retrieval),
        "train_seconds": round(result.train_seconds, 3),
        "versions": metadata["versions"],
    }


def summary_line(summary: Mapping[str, Any]) -> str:
    """One console line: the held-out evidence (or why there is none)."""
    if summary.get("heldout_cka_after") is None:
        return "no held-out pairs (val_fraction 0): alignment.json records no held-out CKA"
    verdict = "aligned" if summary["aligned"] else "[yellow]NOT aligned[/]"
    line = (f"held-out debiased CKA {summary['heldout_cka_before']:.3f} → {summary['heldout_cka_after']:.3f} "
            f"(shuffled pairs {summary['heldout_cka_shuffled']:.3f}): {verdict}")
    r = summary.get("retrieval") or {}
    if r:
        line += (f"; held-out retrieval R@1 audio→report {r['audio_to_report_r@1']:.2f}, report→audio "
                 f"{r['report_to_audio_r@1']:.2f} (chance {r['chance_r@1']:.2f})")
    return line


def start_line(model: Any, teacher: Any, n_train: int, n_val: int, n_reports: int, steps: int, windows: str) -> str:
    """The console line that opens a run: what is aligned to what, on how much, how."""
    cfg, encoder = model.config, model.encoder
    side = "projected pair" if cfg.align_target == "heads" else "encoder embedding"
    return (f"[bold]AcuLa alignment[/] of {encoder.spec.id} ({encoder.weights_info.label()}): {n_train} training "
            f"pairs, {n_val} held-out, {n_reports} distinct reports; teacher {teacher.id} ({teacher.dim}-d, "
            f"{teacher.pooling} pooling); loss {cfg.align_loss} on the {side}; masked modelling: {model.mam_kind}; "
            f"control: {cfg.control}; {cfg.epochs} epochs × {steps} steps; {windows}")


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One epoch's console line: training losses, held-out CKA against its floor, throughput."""
    parts = [(f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.4f} "
              f"(align {record['train_align']:.4f}, mam {record['train_mam']:.4f})")]
    if "val_cka" in record:
        parts.append(f"held-out debiased CKA {record['val_cka']:.3f} (shuffled pairs {record['val_cka_shuffled']:.3f})")
    if "val_mam" in record:
        parts.append(f"held-out MAM {record['val_mam']:.4f}")
    parts.append(f"{record['samples_per_second']:.1f} pairs/s")
    return " · ".join(parts)
