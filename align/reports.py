"""Clinical reports from recording metadata, the text side of the alignment corpus.

A dataset's ``recordings()`` table (:data:`acubench.manifest.RECORDING_COLUMNS`)
gives one row of facts per recording. :func:`facts` reads the fields that are
filled; the generators turn exactly those facts into a short report and
never add one (an empty field produces no sentence; values are quoted as the
dataset states them).

``TemplateReports`` (default)
    Offline and deterministic: each fact has several phrasings and the
    choice is drawn from a generator seeded by (seed, dataset, recording), so
    the corpus is varied yet identical on every machine.
``LLMReports``
    Any local ``transformers`` text-generation model (folder or Hub id)
    writes a 2–3 line report from the facts, prompted like AcuLa's GPT-4o
    reports (facts only, no advice about further evaluation), with greedy
    decoding. Outputs are cached on disk by (model, revision, prompt,
    settings), so a corpus is generated once.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from acubench.paths import atomic_write

#: Fields the reports use, in the order they are reported.
REPORT_FIELDS = (
    "modality", "site", "device", "age", "sex", "smoker", "symptoms", "respiratory_rate", "adventitious",
    "murmur", "murmur_timing", "murmur_grade", "murmur_pitch", "murmur_shape", "murmur_quality",
    "murmur_locations", "diagnosis", "outcome",
)
_LABELS = {
    "modality": "Sound", "site": "Recording site", "device": "Device", "age": "Age", "sex": "Sex",
    "smoker": "Smoker", "symptoms": "Symptoms", "respiratory_rate": "Respiratory rate (breaths/min)",
    "adventitious": "Adventitious sounds", "murmur": "Murmur", "murmur_timing": "Murmur timing",
    "murmur_grade": "Murmur grade", "murmur_pitch": "Murmur pitch", "murmur_shape": "Murmur shape",
    "murmur_quality": "Murmur quality", "murmur_locations": "Murmur locations", "diagnosis": "Diagnosis",
    "outcome": "Outcome",
}
_YES = {"yes", "y", "true", "1", "smoker", "current smoker"}
_NO = {"no", "n", "false", "0", "non-smoker", "nonsmoker", "never", "never smoked"}


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    text = str(value).strip()
    return bool(text) and text.lower() not in ("nan", "none", "<na>", "nat")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).strip()


def facts(row: Mapping[str, Any]) -> dict[str, str]:
    """The filled report fields of one recording, as text, in :data:`REPORT_FIELDS` order."""
    return {name: _text(row[name]) for name in REPORT_FIELDS if name in row and _present(row[name])}


def facts_text(found: Mapping[str, str]) -> str:
    """Facts as ``Label: value`` lines (AcuLa's Meta_Report, one fact per line): the LLM prompt."""
    return "\n".join(f"{_LABELS[k]}: {v}" for k, v in found.items())


def recording_seed(row: Mapping[str, Any], seed: int) -> int:
    """A per-recording seed from (seed, dataset, recording id, segment).

    The audio path counts only where a recording has no id, so moving a data
    root does not change the wording of its reports.
    """
    rid = str(row.get("recording_id", "") or "")
    where = rid if rid not in ("", "nan", "None") else str(row.get("audio_path", ""))
    ident = [str(row.get("dataset", "")), where, str(row.get("start", "")), str(row.get("end", ""))]
    blob = json.dumps([seed, *ident]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


# --- the template generator ------------------------------------------------------------

def _years(age: str) -> str | None:
    """``"62"`` for a numeric age in years, ``None`` for an age group such as ``"Child"``."""
    try:
        return f"{float(age):g}"
    except ValueError:
        return None


def _sex_word(sex: str) -> str:
    low = sex.lower()
    return {"m": "male", "f": "female"}.get(low, low)


def _demographics(f: Mapping[str, str], rng: random.Random) -> str | None:
    age, sex = f.get("age"), f.get("sex")
    if not (age or sex):
        return None
    sx = _sex_word(sex) if sex else None
    years = _years(age) if age else None
    if age and years is None:
        group = age.lower()
        if sx:
            return rng.choice([f"The patient is {sx} (age group: {group}).", f"Patient: {sx}, age group {group}."])
        return rng.choice([f"Age group: {group}.", f"The patient's age group is {group}."])
    if years and sx:
        return rng.choice([f"The patient is a {years}-year-old {sx}.", f"{sx.capitalize()} patient, {years} years old.",
                           f"Patient: {sx}, aged {years} years."])
    if years:
        return rng.choice([f"The patient is {years} years old.", f"Patient aged {years} years."])
    return rng.choice([f"The patient is {sx}.", f"Sex: {sx}."])


def _recording(f: Mapping[str, str], rng: random.Random) -> str | None:
    modality, site, device = f.get("modality"), f.get("site"), f.get("device")
    if not (modality or site or device):
        return None
    what = modality or "the sound"
    parts = [rng.choice([f"{what.capitalize()} recorded", f"Recording of {what}", f"{what.capitalize()} captured"])]
    if site:
        parts.append(rng.choice([f" at the {site.lower()}", f" over the {site.lower()}", f" (site: {site})"]))
    if device:
        parts.append(rng.choice([f" with {device}", f" using {device}", f"; device: {device}"]))
    return "".join(parts) + "."


def _smoking(value: str, rng: random.Random) -> str:
    low = value.lower()
    if low in _YES:
        return rng.choice(["The patient is a smoker.", "Current smoker.", "Smoking status: smoker."])
    if low in _NO:
        return rng.choice(["The patient does not smoke.", "Non-smoker.", "Smoking status: non-smoker."])
    return f"Smoking status: {value}."


_MURMUR_DETAILS = ("murmur_timing", "murmur_grade", "murmur_pitch", "murmur_shape", "murmur_quality",
                   "murmur_locations")


def _murmur_description(d: Mapping[str, str], rng: random.Random) -> str:
    """One sentence from the murmur's characteristics, e.g. "A harsh, high-pitched holosystolic murmur …"."""
    adjectives = [d["murmur_quality"].lower()] if "murmur_quality" in d else []
    if "murmur_pitch" in d:
        adjectives.append(f"{d['murmur_pitch'].lower()}-pitched")
    noun = f"{d['murmur_timing'].lower()} murmur" if "murmur_timing" in d else "murmur"
    sentence = rng.choice(["A ", "There is a "]) + " ".join(filter(None, [", ".join(adjectives), noun]))
    if "murmur_grade" in d:
        sentence += rng.choice([f" of grade {d['murmur_grade']}", f", graded {d['murmur_grade']}"])
    if "murmur_shape" in d:
        sentence += rng.choice([f" with a {d['murmur_shape'].lower()} shape", f" ({d['murmur_shape'].lower()} shape)"])
    if "murmur_locations" in d:
        sentence += rng.choice([f", audible at {d['murmur_locations']}", f", heard at {d['murmur_locations']}"])
    return sentence + "."


def _murmur(f: Mapping[str, str], rng: random.Random) -> str | None:
    status = f.get("murmur")
    details = {k: f[k] for k in _MURMUR_DETAILS if k in f}
    if status is None and not details:
        return None
    low = (status or "").lower()
    if not details:
        if low == "absent":
            return rng.choice(["No murmur was heard.", "Murmur: absent.", "No heart murmur is present."])
        if low == "unknown":
            return rng.choice(["Murmur status could not be determined.", "Murmur: unknown (not assessable)."])
        if low == "present":
            return rng.choice(["A heart murmur is present.", "Murmur: present."])
        return f"Murmur: {status}."
    description = _murmur_description(details, rng)
    return description if low in ("", "present") else f"Murmur: {status}. {description}"


_SIMPLE = {
    "symptoms": ("Reported symptoms: {}.", "Symptoms: {}.", "The patient reports {}."),
    "adventitious": ("Adventitious sounds: {}.", "Auscultation findings: {}.", "Adventitious sounds noted: {}."),
    "diagnosis": ("Diagnosis: {}.", "Clinical diagnosis: {}.", "The recorded diagnosis is {}."),
    "outcome": ("Clinical outcome: {}.", "Outcome: {}.", "The outcome of the clinical assessment was {}."),
    "respiratory_rate": ("Respiratory rate: {} breaths per minute.", "The patient breathes {} times per minute."),
}


@dataclass(frozen=True)
class TemplateReports:
    """Deterministic template reports with varied phrasing.

    Parameters
    ----------
    seed : int
        Base of every recording's phrasing seed (:func:`recording_seed`).
    """

    seed: int = 0
    name: str = "template"

    def describe(self) -> dict[str, Any]:
        return {"generator": "template", "seed": self.seed}

    def report(self, row: Mapping[str, Any]) -> str:
        """The report of one recording (empty if the row has no report field filled)."""
        f = facts(row)
        rng = random.Random(recording_seed(row, self.seed))
        sentences = [_recording(f, rng), _demographics(f, rng)]
        if "smoker" in f:
            sentences.append(_smoking(f["smoker"], rng))
        for key in ("symptoms", "respiratory_rate", "adventitious"):
            if key in f:
                sentences.append(rng.choice(_SIMPLE[key]).format(f[key]))
        sentences.append(_murmur(f, rng))
        for key in ("diagnosis", "outcome"):
            if key in f:
                sentences.append(rng.choice(_SIMPLE[key]).format(f[key]))
        return " ".join(s for s in sentences if s)

    def reports(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.report(r) for r in rows]


# --- the LLM generator -------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You are a clinician tasked with interpreting {kind} auscultation findings. Based on the given facts, write a "
    "2-3 line report covering all clinically relevant information. Only use the information given. "
    "Do NOT mention anything about further evaluation or characterization."
)


def _kind(found: Mapping[str, str]) -> str:
    text = " ".join(found.values()).lower()
    return "cardiac" if ("murmur" in found or "heart" in text) else "respiratory"


class ReportGenerator(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def reports(self, rows: Sequence[Mapping[str, Any]]) -> list[str]: ...


class LLMReports:
    """Reports written by a local text-generation model, cached on disk.

    Parameters
    ----------
    model : str
        A model folder or Hugging Face Hub id (loaded with ``AutoModelForCausalLM``).
    cache_dir : Path
        acubench cache root; outputs go to ``<cache>/reports/<hash>.json``.
    max_new_tokens : int
    device : str

    Attributes
    ----------
    generated : int
        Reports generated by the model so far (cache misses).
    """

    name = "llm"

    def __init__(self, model: str, *, cache_dir: Path, max_new_tokens: int = 120, device: str = "cpu") -> None:
        from acubench.align.teacher import resolve_teacher

        self.source = resolve_teacher(model)
        self.max_new_tokens = int(max_new_tokens)
        self.device = device
        self.folder = Path(cache_dir) / "reports"
        self.generated = 0
        self._tokenizer = None
        self._model = None

    def describe(self) -> dict[str, Any]:
        return {"generator": "llm", "model": self.source.id, "revision": self.source.revision,
                "max_new_tokens": self.max_new_tokens, "decoding": "greedy"}

    def prompt(self, row: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one recording (system instructions + the facts)."""
        found = facts(row)
        return [{"role": "system", "content": SYSTEM_PROMPT.format(kind=_kind(found))},
                {"role": "user", "content": facts_text(found)}]

    def _key(self, messages: list[dict[str, str]]) -> str:
        blob = json.dumps({"settings": self.describe(), "messages": messages}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = str(self.source.folder)
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self._model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval().to(self.device)

    def _render(self, messages: list[dict[str, str]]) -> str:
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{messages[0]['content']}\n\nFacts:\n{messages[1]['content']}\n\nReport:"

    def _generate(self, messages: list[dict[str, str]]) -> str:
        import torch

        if self._model is None:
            self._load()
        tok, model = self._tokenizer, self._model
        enc = tok(self._render(messages), return_tensors="pt").to(self.device)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        self.generated += 1
        return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    def report(self, row: Mapping[str, Any]) -> str:
        """The model's report for one recording (from the cache when it was generated before)."""
        messages = self.prompt(row)
        if not messages[1]["content"]:
            return ""
        key = self._key(messages)
        path = self.folder / key[:2] / f"{key}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())["report"]
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
        text = self._generate(messages)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"report": text, "messages": messages, **self.describe()}, indent=1))
        return text

    def reports(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.report(r) for r in rows]
