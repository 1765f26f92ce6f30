"""COVID-19 Sounds miniature in the publisher's layout (Task 1 table, per-user folders)."""

from __future__ import annotations

from pathlib import Path

from layouts import wav

#: (Uid, split, label); web-form users have Uids starting with 2020
COVID_ROWS = [("u01", 0, 0), ("2020-04-07-01", 0, 1), ("u03", 0, 0), ("u04", 0, 0), ("u05", 0, 1), ("u06", 0, 0),
              ("2020-04-09-02", 0, 0), ("u08", 0, 1), ("u09", 1, 0), ("u10", 1, 1), ("u11", 2, 0), ("u12", 2, 1)]


def build_covid(root: Path) -> Path:
    folder = root / "covid19-sounds"
    lines = ["Uid;Folder Name;Cough filename;Breath filename;split;label"]
    for k, (uid, split, label) in enumerate(COVID_ROWS):
        session = f"2020-05-{k + 10}-10_00_00_000000"
        lines.append(f"{uid};{session};cough.wav;breath.wav;{split};{label}")
        base = folder / "0426_EN_used_task1" / ("form-app-users" if uid.startswith("2020") else uid) / session
        wav(base / "cough.wav", k)
        wav(base / "breath.wav", 100 + k)
    (folder / "data_0426_en_task1.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return folder
