"""Respiratory@TR miniature in the publisher's layout (patient folders, Labels.xlsx as CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from acubench.tasks import _resptr_reader as resptr_reader

#: A synthetic Labels.csv: the publisher's patient ids and grade counts (4 x17, 3 x7, 2 x7, 0 x6, 1 x5),
#: with grades assigned by us (no dataset rows are copied into the project). On the real Labels.csv the
#: loader reproduces the published split (REFERENCE.md §1.7); here the split it draws is pinned.
PATIENTS = ("H002 H003 H004 H005 H006 H007 H008 H009 H010 H011 H012 H013 H014 H015 H016 H017 H018 H021 H022 H023 "
            "H024 H025 H026 H028 H029 H030 H031 H032 H033 H034 H035 H036 H037 H038 H039 H040 H041 H042 H043 H044 "
            "H045 H050").split()


GRADES = "434241434324130440404442420441340232103412"


def build_resptr(root: Path, *, nested: bool = True) -> Path:
    folder = root / "RespiratoryDatabase@TR"
    audio = folder / "RespiratoryDatabase@TR" if nested else folder
    audio.mkdir(parents=True)
    # the publisher's export: UTF-8 BOM, CRLF line ends, a trailing empty column on every line
    lines = ["Patient ID,Diagnosis,"] + [f"{p},COPD{g}," for p, g in zip(PATIENTS, GRADES, strict=True)]
    (folder / "Labels.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    noise = np.random.default_rng(0).normal(0, 0.1, 64).astype("float32")
    for p in PATIENTS:
        for c in resptr_reader.CHANNELS:
            sf.write(str(audio / f"{p}_{c}.wav"), noise, 4000)
    return folder
