"""SPRSound miniature in the publisher's layout (wav + JSON annotations per record)."""

from __future__ import annotations

import json
from pathlib import Path

from acubench.tasks import _sprsound_reader as sprsound_reader
from acubench.tasks import sprsound
from layouts import wav

#: part -> [(file stem, record annotation, event types)]
SPR = {
    "train": [("41001_3.4_1_p1_1", "Normal", ["Normal", "Normal"]), ("41001_3.4_1_p2_2", "CAS", ["Wheeze", "Normal"]),
              ("41002_5.0_0_p3_3", "DAS", ["Fine Crackle"]), ("41002_5.0_0_p4_4", "Poor Quality", []),
              ("41003_0.8_0_p1_5", "Normal", ["Normal"]), ("41003_0.8_0_p2_6", "CAS & DAS", ["Wheeze+Crackle"]),
              ("41004_9.1_1_p1_7", "Normal", ["Normal"]), ("41004_9.1_1_p3_8", "Normal", ["Normal"]),
              ("41005_2.2_0_p2_9", "DAS", ["Coarse Crackle", "Normal"]), ("41005_2.2_0_p4_10", "Normal", ["Normal"])],
    "inter_test": [("42001_4.4_1_p1_11", "Normal", ["Normal"]), ("42001_4.4_1_p2_12", "CAS", ["Rhonchi"]),
                   ("42002_6.0_0_p1_13", "DAS", ["Fine Crackle"])],
    "intra_test": [("41001_3.4_1_p3_14", "CAS", ["Stridor"]), ("41002_5.0_0_p1_15", "Normal", ["Normal"])],
}


def build_sprsound(root: Path) -> Path:
    folder = root / "SPRSound"
    release = folder / "BioCAS2022"
    for part, rows in SPR.items():
        audio, ann = sprsound_reader.PARTS[part]
        for k, (stem, record, events) in enumerate(rows):
            wav(release / audio / f"{stem}.wav", k)
            data = {"record_annotation": record,
                    "event_annotation": [{"start": str(1000 * i), "end": str(1000 * i + 800), "type": t}
                                         for i, t in enumerate(events)]}
            (release / ann).mkdir(parents=True, exist_ok=True)
            (release / ann / f"{stem}.json").write_text(json.dumps(data))
    (folder / "Patient Summary").mkdir()
    (folder / sprsound.SUMMARY).write_text(",patient_num,disease,age,gender\n0,41001,Asthma,3.4,F\n"
                                           "1,42001,Pneumonia (non-severe),4.4,F\n")
    return folder
