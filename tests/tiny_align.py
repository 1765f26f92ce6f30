"""Shared material for the AcuLa tests: a tiny conv+transformer encoder plugin, tiny teachers, a toy corpus.

The ``test_align_*`` files import these helpers; the ``bert_teacher`` fixture (conftest.py) builds
its teacher here, and ``test_tiny_align.py`` checks that the helpers honour the contracts they
stand in for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from scipy.signal import butter, sosfilt
from torch import Tensor, nn

from acubench import hookimpl, plugins
from acubench.checkpoints import fit_state_dict, load_checkpoint, unwrap_state_dict
from acubench.encoder import AudioEncoder, WeightsInfo, seeded
from acubench.specs import ClipPolicy, EncoderSpec
from acubench.weights import file_sha256

SR = 16000
N_MELS = 24

TINY_SPEC = EncoderSpec(
    id="tiny-align", factory="tiny_align:build_tiny", sample_rate=SR, embed_dim=16,
    clip=ClipPolicy(trim_silence=False, min_seconds=0.5, window_seconds=0.5, hop_seconds=0.25),
    task_clip="fixed", configs=("default", "tiny"),
)
FROZEN_SPEC = EncoderSpec(id="tiny-frozen", factory="tiny_align:build_tiny", sample_rate=SR, embed_dim=16,
                          supports_alignment=False)


class TinyAlignEncoder(AudioEncoder):
    """Log-mel (B, T, 24) → strided conv → one transformer layer → tokens (B, N, 16); no ssl_loss."""

    def __init__(self, spec: EncoderSpec, info: WeightsInfo) -> None:
        super().__init__(spec, {"name": "tiny"}, info)
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=400, hop_length=160, n_mels=N_MELS)
        self.conv = nn.Conv1d(N_MELS, 16, kernel_size=3, stride=2, padding=1)
        self.block = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(16)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        n = min(len(w) for w in waves)
        batch = torch.stack([w[:n].float() for w in waves]).to(self.device)
        with torch.no_grad():
            return torch.log(self.mel(batch) + 1e-6).transpose(1, 2)

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        return self.block(torch.relu(self.conv(inputs.transpose(1, 2))).transpose(1, 2))

    def pool(self, tokens: Tensor) -> Tensor:
        return self.norm(tokens.mean(dim=1))


def build_tiny(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
               strict: bool = True, trust_checkpoint: bool = False) -> TinyAlignEncoder:
    if weights is None:
        with seeded(seed):
            enc = TinyAlignEncoder(spec, WeightsInfo.random_init(seed))
        return enc.to(device)
    with seeded(seed):
        enc = TinyAlignEncoder(spec, WeightsInfo("pretrained", str(weights), file_sha256(weights)))
    state = unwrap_state_dict(load_checkpoint(weights, trust=trust_checkpoint), path=str(weights))
    fit_state_dict(enc, state, strict=strict, source=str(weights))
    return enc.to(device)


class TinyPlugin:
    @hookimpl
    def acubench_encoders(self):
        return [TINY_SPEC, FROZEN_SPEC]


def register_tiny() -> None:
    """Register the tiny encoders like a third-party plugin (undo with ``plugins.reset()``)."""
    pm = plugins.plugin_manager()
    if pm.get_plugin("tiny-align-plugin") is None:
        pm.register(TinyPlugin(), name="tiny-align-plugin")
    plugins.registries.cache_clear()


# --- teachers ---------------------------------------------------------------------------------

WORDS = ("normal vesicular breath sounds wheezes crackles heard at the left right base apex murmur present absent "
         "grade patient is a smoker non-smoker diagnosis copd asthma healthy lung heart recorded with stethoscope "
         "of and in no . , : - 1 2 3 4 5 6 7 8 9 0 reports fever cough").split()


def _word_tokenizer(special: dict[str, str]):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    names = list(dict.fromkeys([*special.values(), *WORDS]))
    vocab = {w: i for i, w in enumerate(names)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=special["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if "cls_token" in special:
        cls, sep = special["cls_token"], special["sep_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"{cls} $A {sep}",
                                                           special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    else:
        bos = special["bos_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **special), len(vocab)


def make_bert_teacher(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with a word-level tokenizer, saved offline."""
    from transformers import BertConfig, BertModel

    tok, n = _word_tokenizer({"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"})
    with seeded(0):
        model = BertModel(BertConfig(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=160))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_gemma3_teacher(folder: Path) -> Path:
    """A tiny multimodal Gemma 3 (MedGemma's architecture): text width only in ``text_config``; no pad token."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    tok, n = _word_tokenizer({"unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>"})
    text = Gemma3TextConfig(vocab_size=n, hidden_size=24, intermediate_size=48, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=12, sliding_window=8,
                            max_position_embeddings=256)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=16)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4)
    with seeded(0):
        model = Gemma3ForConditionalGeneration(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# --- corpus ---------------------------------------------------------------------------------------


def make_corpus(folder: Path, n_subjects: int = 16, per_subject: int = 2, seconds: float = 1.0,
                level_db: float = 20.0, variants: int = 3, coloured: bool = False, seed: int = 0) -> pd.DataFrame:
    """Toy paired data: wheezy (a faint tone in noise) vs normal (noise) recordings with matching reports.

    Each subject has recordings of both kinds, so any subject split holds both.
    A random level per recording (±``level_db``) dominates untrained features,
    so the tone has to be learnt; ``coloured`` noise (low-passed at a random
    1–7 kHz) adds a nuisance that survives per-clip normalisation (OPERA's
    min–max log-mel). Reports come in ``variants`` wordings per class.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    rows = []
    for s in range(n_subjects):
        for k in range(per_subject):
            wheeze = (s + k) % 2 == 1
            level = 10 ** (rng.uniform(-level_db, level_db) / 20)
            tone = 0.3 * np.sin(2 * np.pi * 600 * t + rng.uniform(0, 2 * np.pi)) if wheeze else 0.0
            noise = rng.standard_normal(t.size)
            if coloured:
                noise = sosfilt(butter(4, 10 ** rng.uniform(3, np.log10(7000)), fs=SR, output="sos"), noise)
                noise /= noise.std()
            wave = 0.05 * level * (noise + tone / 0.05)
            path = folder / f"s{s}_{k}.wav"
            sf.write(str(path), wave.astype(np.float32), SR)
            report = ("wheezes heard at the left base . diagnosis : asthma" if wheeze
                      else "normal vesicular breath sounds . diagnosis : healthy")
            rows.append({"audio_path": str(path), "report": f"{report} {s % variants}", "dataset": "toy",
                         "subject": f"s{s}", "recording_id": f"s{s}_{k}", "start": np.nan, "end": np.nan})
    return pd.DataFrame(rows)
