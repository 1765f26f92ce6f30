"""HF_Lung_V1: recording-level continuous adventitious sounds (X06).

Publisher layout (``<data-root>/hf_lung/``): the GitLab download
``HF_Lung_V1-master/`` (or ``HF_Lung_V1/``) with ``train/`` and ``test/``, each
holding 15 s recordings ``<stem>.wav`` (4 kHz; ``steth_<date>_<time>`` from a
Littmann 3200 stethoscope, ``trunc_<date-time>-<channel>_<k>`` cut from
HF-Type-1 multichannel recordings) and their event annotations
``<stem>_label.txt``: one line ``<type> <hh:mm:ss.fff> <hh:mm:ss.fff>`` per
event, types I (inhalation), E (exhalation), D (discontinuous adventitious
sound: crackles), Wheeze, Stridor, Rhonchi.

Label (OPERA's ``hflung_split.py`` recipe, which it used for pretraining
metadata): a recording is positive (1) if its annotation has any continuous
adventitious sound (Wheeze, Stridor or Rhonchi), else 0; the
``reference_label`` column keeps OPERA's five-way string (None, Wheeze,
Stridor, Rhonchi, Both; "None" is a label, not a missing value). Crackles are
reported in ``crackles`` but are not part of the label, as in the recipe.

Split: the official train/test folders (7809 / 1956 recordings). The
publisher gives no subject ids, so each recording is its own subject; the
validation set (20 % of train, seed 1337) is carved by recording date, so
recordings of one session never straddle train and validation.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

VAL_FRACTION, VAL_SEED = 0.2, 1337

DATASET = DatasetSpec(
    id="hflung",
    name="HF_Lung_V1 lung sound database",
    folder="hf_lung",
    url="https://gitlab.com/techsupportHF/HF_Lung_V1",
    license="CC BY-NC 4.0",
    access="public",
    layout=("HF_Lung_V1-master/ (the GitLab download, or HF_Lung_V1/) with train/ and test/ holding <stem>.wav and "
            "<stem>_label.txt (9765 recordings)"),
    citation=("Hsu F-S, Huang S-R, Huang C-W et al. Benchmarking of eight recurrent neural network variants for breath "
              "phase and adventitious sound detection on a self-developed open-access lung sound database - "
              "HF_Lung_V1. PLOS ONE 16(7):e0254134, 2021."),
    check="acubench.tasks._hflung_reader:check",
    recordings="acubench.tasks._hflung_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="X06",
        name="hflung-cas",
        dataset="hflung",
        loader="acubench.tasks._hflung_reader:load",
        kind="binary",
        modality="lung sounds",
        target="continuous adventitious sounds (wheeze, stridor or rhonchi) in the recording",
        classes=("none", "CAS"),
        class_prompts=(
            "Lung sounds without wheezes, stridor or rhonchi.",
            "Lung sounds with continuous adventitious sounds such as wheezes, stridor or rhonchi.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=(
            "Official HF_Lung_V1 train/test folders (7809/1956 recordings; CAS-positive 3038/661 by OPERA's "
            "metadata recipe). No subject ids are published, so a recording is a subject; validation = 20 % of "
            f"the training recording dates (seed {VAL_SEED}), so one session never straddles train and validation. "
            "Crackles (D events) are not part of the label."
        ),
        suites=("extra",),
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description="Recording-level detection of continuous adventitious lung sounds in HF_Lung_V1 "
                    "(pretraining data of the OPERA encoders).",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
