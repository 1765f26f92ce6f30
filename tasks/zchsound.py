"""ZCHSound paediatric heart sounds: normal vs congenital heart defect (T18).

Publisher layout (``<data-root>/ZCHSound/``, as downloaded from the ZCHSound
site): two subsets, each an audio folder and a ``;``-separated table with
columns ``fileName;gender;age(days);diagnosis``:

* clean: ``clean Heartsound Data/`` + ``Clean Heartsound Data Details.csv`` (941 recordings),
* noisy: ``Noise Heartsound Data Details/`` + ``Noise Heartsound Data Details.csv`` (318 recordings),

file names ``ZCH0001.wav`` … ``ZCH1259.wav``, unique across the subsets.
Diagnoses: ``NORMAL``, ``ASD`` (atrial septal defect), ``VSD`` (ventricular
septal defect), ``PFO`` (patent foramen ovale), ``PDA`` (patent ductus
arteriosus).

Task: both subsets, label 0 = NORMAL, 1 = any of the four defects (the
"symptomatic vs healthy" task of AcuLa's cardiac group; PFO counts as a
defect, as in the publisher's labels).

Subjects: the tables carry no patient id; the publisher describes 1259
participants for 1259 recordings, so each file is its own subject. Split:
file-level, stratified by subset × diagnosis (sklearn ``train_test_split``,
seed 42: 20 % test, then 20 % of the rest validation, i.e. 64/16/20), so both
subsets and all five diagnoses are represented in every split.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

TEST_FRACTION, VAL_FRACTION, SPLIT_SEED = 0.2, 0.2, 42
DATASET = DatasetSpec(
    id="zchsound",
    name="ZCHSound (Zhejiang University Children's Hospital paediatric heart sounds)",
    folder="ZCHSound",
    url="http://zchsound.ncrcch.org.cn/",
    license="research use under the publisher's terms (see the download page)",
    access="public",
    layout=("'clean Heartsound Data/' with 'Clean Heartsound Data Details.csv' and 'Noise Heartsound Data Details/' "
            "with 'Noise Heartsound Data Details.csv' (';'-separated: fileName;gender;age(days);diagnosis; "
            "ZCH0001.wav … ZCH1259.wav)"),
    citation=("Jia W, Wang Y, Chen R et al. ZCHSound: Open-Source ZJU Paediatric Heart Sound Database With "
              "Congenital Heart Disease. IEEE Transactions on Biomedical Engineering, 2024. "
              "doi:10.1109/TBME.2023.3348800"),
    check="acubench.tasks._zchsound_reader:check",
    recordings="acubench.tasks._zchsound_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="T18",
        name="zchsound-chd",
        dataset="zchsound",
        loader="acubench.tasks._zchsound_reader:load",
        kind="binary",
        modality="heart sounds",
        target="normal vs congenital heart defect (ASD, VSD, PFO or PDA)",
        classes=("normal", "CHD"),
        class_prompts=(
            "Heart sounds of a healthy child with a structurally normal heart.",
            ("Heart sounds of a child with a congenital heart defect such as a septal defect or a patent ductus "
             "arteriosus, often with a murmur."),
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=(
            "Clean and noisy subsets both used. The publisher's tables have no patient id and describe one "
            "recording per participant, so a file is a subject. File-level split stratified by subset x diagnosis "
            f"(sklearn train_test_split, seed {SPLIT_SEED}: {TEST_FRACTION:.0%} test, then {VAL_FRACTION:.0%} of "
            "the rest validation); expected counts are this recipe's on the full 1259 recordings."
        ),
        expected_counts={"train": 805, "val": 202, "test": 252},
        suites=("acula18",),
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description="Congenital heart defect detection from paediatric heart sounds (ZCHSound clean + noisy).",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
