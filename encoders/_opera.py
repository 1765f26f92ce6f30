"""What the three OPERA encoders declare alike: provenance, weights, clip policies.

OPERA (Zhang et al., "Towards Open Respiratory Acoustic Foundation Models:
Pretraining and Benchmarking", NeurIPS 2024 Datasets & Benchmarks,
arXiv:2406.16148; code https://github.com/evelyn0414/OPERA, MIT) released
three encoders pre-trained on the same five respiratory corpora, all fed the
64-band log-mel of :func:`acubench.frontends.opera_logmel`:

* ``encoder-operaCE.ckpt``: contrastive (COLA) EfficientNet-B0, 1280-d;
* ``encoder-operaCT.ckpt``: contrastive (COLA) HTS-AT Swin transformer, 768-d;
* ``encoder-operaGT.ckpt``: generative (MAE) ViT-small, 384-d.

The models themselves, and the checkpoint reading they share, are in
:mod:`acubench.encoders._opera_model`, imported only when one is built.
"""

from __future__ import annotations

from dataclasses import replace

from acubench.specs import ClipPolicy, EncoderSpec, TaskSpec, WeightsRef

HF_REPO = "evelyn0414/OPERA"
REFERENCE = ("Zhang, Xia et al., Towards Open Respiratory Acoustic Foundation Models: Pretraining and "
             "Benchmarking, NeurIPS 2024 Datasets and Benchmarks (arXiv:2406.16148); "
             "https://github.com/evelyn0414/OPERA")
LICENSE = "MIT (OPERA code and released weights)"
#: OPERA's pre-training corpora (canonical dataset ids): COVID-19 Sounds, UK COVID-19
#: Vocal Audio, CoughVID, ICBHI and HF Lung.
PRETRAINED_ON = ("covid19sounds", "coviduk", "coughvid", "icbhi", "hflung")

SAMPLE_RATE = 16000

#: CE and CT: the whole silence-trimmed clip as one spectrogram, repeat-padded to
#: at least 8 s (``get_entire_signal_librosa(pad=True)``); tasks override the length.
WHOLE_CLIP = ClipPolicy(trim_silence=True, min_seconds=8.0, pad="repeat")

#: GT: 8.18 s windows (256 frames) with 50 % overlap, the residual tail
#: repeat-padded from the whole recording (``get_split_signal_librosa``).
GT_WINDOWS = ClipPolicy(trim_silence=True, pad="repeat", window_seconds=8.18, last_window="pad")


def weights_ref(name: str) -> WeightsRef:
    """The Hugging Face file of one released encoder, ``name`` in ``operaCE``/``operaCT``/``operaGT``."""
    return WeightsRef(filename=f"encoder-{name}.ckpt", hf_repo=HF_REPO,
                      url=f"https://huggingface.co/{HF_REPO}/blob/main/encoder-{name}.ckpt")


#: GT on recordings no longer than half a window: one 4.09 s window (128 frames, 512 patch
#: tokens) instead of an 8.18 s one, about 2.5x cheaper and dropping nothing but padding.
GT_HALF_WINDOW = replace(GT_WINDOWS, window_seconds=GT_WINDOWS.window_seconds / 2)

#: OPERA's benchmark fed OPERA-CT and OPERA-GT differently from the defaults on a few tasks
#: (its per-task ``--min_len_htsat`` and GT ``input_sec``, REFERENCE.md §2.1), keyed here by
#: the task's number in OPERA's tables (``TaskSpec.opera_task``). OPERA-CE always pads to the
#: task's ``clip_seconds`` (its ``--min_len_cnn``).
_COSWARA = (8, 9)
_MMLUNG = (13, 14, 15, 16, 17, 18)
_NOSEMIC = 19
#: CT: Coswara's precomputed 8 s spectrograms; MMLung zero-padded to 20 s ('zero' padding:
#: clips under half the length are tiled first); NoseMic repeat-padded to 30 s.
CT_BY_OPERA_TASK: dict[int, ClipPolicy] = {
    **{n: ClipPolicy(min_seconds=8.0, pad="repeat") for n in _COSWARA},
    **{n: ClipPolicy(min_seconds=20.0, pad="zero") for n in _MMLUNG},
    _NOSEMIC: ClipPolicy(min_seconds=30.0, pad="repeat"),
}
#: GT: Coswara's 8 s-padded clip in non-overlapping 256-frame (8.192 s) chunks, as in OPERA's
#: precomputed spectrograms; MMLung 5 s and NoseMic 8 s windows with 50 % overlap, the tail padded.
GT_BY_OPERA_TASK: dict[int, ClipPolicy] = {
    **{n: ClipPolicy(min_seconds=8.0, pad="repeat", window_seconds=8.192, hop_seconds=8.192, last_window="keep",
                     min_window_seconds=0.512) for n in _COSWARA},
    **{n: ClipPolicy(pad="repeat", window_seconds=5.0, last_window="pad") for n in _MMLUNG},
    _NOSEMIC: ClipPolicy(pad="repeat", window_seconds=8.0, last_window="pad"),
}


def ct_task_clip(encoder: EncoderSpec, task: TaskSpec) -> ClipPolicy:
    """OPERA-CT's input on ``task``: OPERA's own where it differed, else the whole clip padded to ``clip_seconds``."""
    if task.opera_task in CT_BY_OPERA_TASK:
        return CT_BY_OPERA_TASK[task.opera_task]
    return encoder.clip if task.clip_seconds is None else replace(encoder.clip, min_seconds=task.clip_seconds)


def gt_task_clip(encoder: EncoderSpec, task: TaskSpec) -> ClipPolicy:
    """OPERA-GT's input on ``task``: OPERA's own where it differed, one half-length window for short
    recordings, else 8.18 s windows."""
    if task.opera_task in GT_BY_OPERA_TASK:
        return GT_BY_OPERA_TASK[task.opera_task]
    half = GT_HALF_WINDOW.window_seconds
    if task.recording_seconds is not None and half is not None and task.recording_seconds <= half:
        return GT_HALF_WINDOW
    return encoder.clip
