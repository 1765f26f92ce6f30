"""The unit an alignment run trains: the encoder, its optional projection heads and masked-modelling head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from acubench.align.data import derive_seed
from acubench.align.heads import ProjectionMLP
from acubench.align.lossspec import LossSpec, get_loss
from acubench.align.mam import MaskedFrameHead, masked_frame_loss
from acubench.align.presets import AlignConfig
from acubench.encoder import AudioEncoder
from acubench.errors import AcubenchError


class AlignError(AcubenchError, ValueError):
    """An alignment run that cannot start or continue as asked; the message says what to change."""


class AlignmentModel(nn.Module):
    """Encoder (+ projection heads) (+ generic masked-modelling head), the unit DDP wraps.

    Parameters
    ----------
    encoder : AudioEncoder
    audio_head, text_head : ProjectionMLP or None
        Both present for ``align_target="heads"``, both ``None`` for ``"embedding"``.
    mam_head : MaskedFrameHead or None
        Only for encoders without a masked-modelling loss of their own.
    config : AlignConfig
    gather : bool
        All-gather the features across ranks before the alignment loss.
    """

    def __init__(self, encoder: AudioEncoder, audio_head: ProjectionMLP | None, text_head: ProjectionMLP | None,
                 mam_head: MaskedFrameHead | None, config: AlignConfig, gather: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.audio_head = audio_head
        self.text_head = text_head
        self.mam_head = mam_head
        self.config = config
        self.gather = gather
        self.loss_spec: LossSpec = get_loss(config.align_loss)
        self.align_loss = self.loss_spec.build(config)

    @property
    def mam_kind(self) -> str:
        """``"ssl_loss"`` (the encoder's own), ``"generic head"`` or ``"off"``."""
        return masked_modelling(self.encoder, self.config)["kind"]

    def load_heads(self, checkpoint: dict) -> None:
        """The heads' weights from a checkpoint of this run (resumption)."""
        for head, key in ((self.audio_head, "audio_projection_mlp_state_dict"),
                          (self.text_head, "language_projection_mlp_state_dict"),
                          (self.mam_head, "mam_head_state_dict")):
            if head is not None:
                head.load_state_dict(checkpoint[key])

    def embed(self, inputs: Tensor) -> Tensor:
        """Model inputs → pooled encoder embeddings (B, D), with gradients."""
        return self.encoder.pool(self.encoder.forward_tokens(inputs))

    def sides(self, embeddings: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        """What the loss compares: the projected pair, or the embeddings and teacher vectors themselves."""
        if self.audio_head is None:
            return embeddings.float(), text.float()
        return self.audio_head(embeddings.float()), self.text_head(text.float())

    def mam(self, inputs: Tensor, generator: torch.Generator) -> Tensor:
        if self.mam_head is None:
            loss = self.encoder.ssl_loss(inputs)
            if loss is None:
                raise AlignError(f"encoder {self.encoder.spec.id}: ssl_loss returned None after returning a loss")
            return loss
        return masked_frame_loss(self.encoder, self.mam_head, inputs, mask_ratio=self.config.mask_ratio,
                                 generator=generator)

    def forward(self, inputs: Tensor, text: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Losses for one batch: ``loss`` (weighted total), ``align``, ``mam``."""
        cfg = self.config
        zero = inputs.new_zeros((), dtype=torch.float32)
        align = zero
        if cfg.lambda_align > 0:
            audio, language = self.sides(self.embed(inputs), text)
            if self.gather:
                from torch.distributed.nn.functional import all_gather

                audio, language = torch.cat(all_gather(audio)), torch.cat(all_gather(language))
            align = self.align_loss(audio, language)
        mam = self.mam(inputs, generator).float() if cfg.lambda_mam > 0 else zero
        return {"loss": cfg.lambda_align * align + cfg.lambda_mam * mam, "align": align, "mam": mam}


def masked_modelling(encoder: AudioEncoder, config: AlignConfig) -> dict[str, str | None]:
    """Which masked-modelling loss a run of ``encoder`` trains, as ``alignment.json`` records it.

    Returns
    -------
    dict
        ``kind``: ``"ssl_loss"`` (the encoder's own, e.g. OPERA-GT's or
        AudioMAE's MAE decoder), ``"generic head"`` (:mod:`acubench.align.mam`)
        or ``"off"`` (``lambda_mam`` 0); ``notice``: the encoder's
        ``ssl_loss_notice`` (why it falls short of its own loss), or ``None``.
    """
    if config.lambda_mam <= 0:
        return {"kind": "off", "notice": None}
    return {"kind": "ssl_loss" if encoder.has_ssl_loss else "generic head", "notice": encoder.ssl_loss_notice}


def build_model(encoder: AudioEncoder, teacher_dim: int, config: AlignConfig, *, seed: int, sample_inputs: Tensor,
                gather: bool = False) -> AlignmentModel:
    """The encoder with freshly initialised (seeded) heads for alignment.

    Parameters
    ----------
    encoder : AudioEncoder
    teacher_dim : int
        Size of the teacher's report vectors.
    config : AlignConfig
    seed : int
    sample_inputs : Tensor
        One featurised input: for an encoder without its own masked-modelling
        loss (``has_ssl_loss``), it gives the sizes of the generic head.
    gather : bool
        All-gather features across ranks (DDP).

    Raises
    ------
    AlignError
        If the loss needs equal widths and the two sides differ.
    """
    spec = get_loss(config.align_loss)
    if config.align_target == "embedding" and spec.needs_equal_dims and encoder.embed_dim != teacher_dim:
        raise AlignError(f"align_loss {spec.id} needs equal widths, but the encoder's embedding is "
                         f"{encoder.embed_dim}-d "
                         f"and the teacher's {teacher_dim}-d; use --align-target heads (projection heads of equal "
                         f"width) or a CKA loss")
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        need_head = masked_modelling(encoder, config)["kind"] == "generic head"
        head_dims = (encoder.forward_tokens(sample_inputs).shape[-1],
                     encoder.reconstruction_target(sample_inputs).shape[-1]) if need_head else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "heads"))
        audio_head = text_head = None
        if config.align_target == "heads":
            audio_head = ProjectionMLP(encoder.embed_dim, config.proj_hidden, config.proj_dim, config.dropout)
            text_head = ProjectionMLP(teacher_dim, config.proj_hidden, config.proj_dim, config.dropout)
        mam_head = MaskedFrameHead(*head_dims) if head_dims else None
    return AlignmentModel(encoder, audio_head, text_head, mam_head, config, gather=gather)
