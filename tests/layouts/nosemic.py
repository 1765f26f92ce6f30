"""NoseMic miniature in the publisher's layout (one file per participant and session, rate in the name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from acubench.tasks import nosemic

#: Two recordings per OPERA participant; rates with and without decimals, as in the real names.
FILES = [f"{uid}_{1 + k}_{'ab'[k]}_{12 + int(uid) % 7 + 0.5 * k:g}.wav"
         for uid in nosemic.REFERENCE_UIDS for k in (0, 1)]


def build_nosemic(root: Path, names=FILES) -> Path:
    audio = root / "nosemic" / "audio"
    audio.mkdir(parents=True)
    noise = np.random.default_rng(0).normal(0, 0.1, 200).astype("float32")
    for name in names:
        sf.write(str(audio / name), noise, 16000)
    return audio
