"""HF_Lung_V1 miniature in the publisher's layout (train/ and test/ with label files)."""

from __future__ import annotations

from pathlib import Path

from layouts import wav

#: split -> {stem: event types}
HF = {
    "train": {"steth_20180814_09_37_11": ["I", "E", "Rhonchi"], "steth_20180814_09_37_33": ["I", "E"],
              "steth_20180815_10_00_00": ["I", "Wheeze", "E", "Stridor"], "steth_20180815_10_01_00": ["I", "D"],
              "trunc_2019-07-16-10-20-29-L1_1": ["I", "E", "Wheeze"], "trunc_2019-07-16-10-20-29-L1_2": ["I"],
              "steth_20180901_08_00_00": ["E"], "steth_20180902_08_00_00": ["I", "Wheeze"],
              "steth_20180903_08_00_00": ["I"], "steth_20180904_08_00_00": ["Rhonchi"]},
    "test": {"steth_20190101_11_11_11": ["I", "E"], "steth_20190101_11_12_00": ["Wheeze", "Rhonchi", "D"],
             "trunc_2019-08-21-10-35-06-L1_1": ["I", "Stridor"]},
}


def build_hflung(root: Path) -> Path:
    folder = root / "hf_lung"
    for split, recs in HF.items():
        for k, (stem, types) in enumerate(recs.items()):
            d = folder / "HF_Lung_V1-master" / split
            wav(d / f"{stem}.wav", k)
            lines = [f"{t} 00:00:{i:02d}.000 00:00:{i:02d}.800" for i, t in enumerate(types)]
            (d / f"{stem}_label.txt").write_text("\n".join(lines) + "\n")
    return folder
