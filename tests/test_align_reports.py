"""Reports from metadata: facts only, varied but reproducible phrasing, the cached LLM generator."""

from __future__ import annotations

import math
import re

import pytest

from acubench.align.reports import REPORT_FIELDS, LLMReports, TemplateReports, facts, facts_text
from acubench.manifest import RECORDING_COLUMNS

ICBHI = {"dataset": "icbhi", "recording_id": "101_1b1_Al_sc_Meditron", "audio_path": "/d/101.wav",
         "modality": "lung sounds", "site": "Anterior left", "device": "WelchAllyn Meditron stethoscope",
         "age": 3.0, "sex": "female", "diagnosis": "URTI", "adventitious": "crackles in 2 of 11 respiratory cycles",
         "smoker": math.nan, "symptoms": None, "murmur": ""}
CIRCOR = {"dataset": "circor", "recording_id": "9979_TV", "modality": "heart sounds", "site": "tricuspid valve",
          "age": "Child", "sex": "Male", "murmur": "Present", "murmur_timing": "Holosystolic",
          "murmur_grade": "III/VI", "murmur_pitch": "High", "murmur_shape": "Diamond", "murmur_quality": "Harsh",
          "murmur_locations": "AV+MV+PV+TV", "outcome": "Abnormal"}


def test_report_fields_are_recording_columns():
    assert set(REPORT_FIELDS) <= set(RECORDING_COLUMNS)


def test_every_fact_is_reported_and_nothing_else():
    gen = TemplateReports()
    text = gen.report(ICBHI)
    for value in ("lung sounds", "anterior left", "WelchAllyn Meditron stethoscope", "3", "female", "URTI",
                  "crackles in 2 of 11 respiratory cycles"):
        assert value.lower() in text.lower(), value
    for absent in ("smok", "murmur", "symptom", "outcome", "breaths per minute"):
        assert absent not in text.lower(), absent
    heart = gen.report(CIRCOR)
    for value in ("heart sounds", "tricuspid valve", "child", "male", "holosystolic", "III/VI", "high-pitched",
                  "diamond", "harsh", "AV+MV+PV+TV", "Abnormal"):
        assert value.lower() in heart.lower(), value
    assert "wheez" not in heart and "crackle" not in heart and "diagnosis" not in heart.lower()


#: A word every sentence about a field uses, and no sentence about another field does.
TOPICS = {"smoker": "smok", "diagnosis": "diagnos", "outcome": "outcome", "symptoms": "symptom",
          "respiratory_rate": "per minute", "age": "year", "adventitious": "adventitious|auscultation",
          **{f: "murmur" for f in REPORT_FIELDS if f.startswith("murmur")}}


@pytest.mark.parametrize("field", REPORT_FIELDS)
def test_a_single_fact_gives_a_sentence_about_it_only(field):
    value = "42" if field in ("age", "respiratory_rate") else "zebra"
    text = TemplateReports().report({field: value, "dataset": "x", "recording_id": "r"}).lower()
    assert value in text
    own = TOPICS.get(field)
    if own:
        assert re.search(own, text), (field, text)
    for other in set(TOPICS.values()) - {own}:
        assert not re.search(other, text), (field, other, text)


def test_murmur_status_wording():
    gen = TemplateReports()
    assert re.search(r"no (heart )?murmur|murmur: absent", gen.report({"murmur": "Absent"}).lower())
    assert "could not be determined" in gen.report({"murmur": "Unknown", "recording_id": "a"}) or \
        "unknown" in gen.report({"murmur": "Unknown", "recording_id": "a"}).lower()
    assert gen.report({}) == ""


def test_phrasing_varies_across_recordings_but_is_reproducible():
    gen = TemplateReports(seed=0)
    rows = [{**ICBHI, "recording_id": f"r{i}"} for i in range(30)]
    texts = gen.reports(rows)
    assert len(set(texts)) > 5
    assert texts == TemplateReports(seed=0).reports(rows)
    assert texts != TemplateReports(seed=1).reports(rows)
    assert facts(ICBHI)["age"] == "3" and "smoker" not in facts(ICBHI)


def test_llm_reports_are_generated_once_and_cached(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = "lung sounds crackles heard normal report patient the . : , a".split()
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    model_dir = tmp_path / "tiny-gpt2"
    __import__("torch").manual_seed(0)  # deterministic random weights
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=1, n_head=2, n_positions=512,
                               eos_token_id=1, bos_token_id=1)).save_pretrained(model_dir)
    fast.save_pretrained(model_dir)
    gen = LLMReports(str(model_dir), cache_dir=tmp_path / "cache", max_new_tokens=8)
    messages = gen.prompt(ICBHI)
    assert "Only use the information given" in messages[0]["content"] and "respiratory" in messages[0]["content"]
    assert messages[1]["content"] == facts_text(facts(ICBHI)) and "Diagnosis: URTI" in messages[1]["content"]
    first = gen.reports([ICBHI, CIRCOR])
    assert gen.generated == 2 and all(isinstance(t, str) for t in first)
    again = LLMReports(str(model_dir), cache_dir=tmp_path / "cache", max_new_tokens=8)
    assert again.reports([ICBHI, CIRCOR]) == first and again.generated == 0 and again._model is None
    other = LLMReports(str(model_dir), cache_dir=tmp_path / "cache", max_new_tokens=4)
    other.reports([ICBHI])
    assert other.generated == 1  # other settings, other cache entry
