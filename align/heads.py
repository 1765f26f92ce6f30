"""Projection heads into the shared space, and the map that makes the two sides comparable.

AcuLa's ``MLP``: Linear → ReLU → Dropout → Linear, one head per modality,
both trained. The layer names (``layers.0``, ``layers.3``) are the
reference's, so the heads' state dicts load into either code base.
:func:`fit_space_map` is what zero-shot scoring needs on top of CKA training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ProjectionMLP(nn.Module):
    """Two-layer MLP head.

    Parameters
    ----------
    in_dim : int
        Input feature size (the encoder's ``embed_dim`` or the teacher's hidden size).
    hidden_dim : int
        Hidden width (AcuLa: 1024).
    out_dim : int
        Size of the shared space (AcuLa: 512).
    dropout : float
        Dropout after the ReLU (AcuLa: 0.2).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 1024, out_dim: int = 512, dropout: float = 0.2) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if value < 1:
                raise ValueError(f"ProjectionMLP: {name} must be >= 1, got {value}")
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_dim) → (B, out_dim)."""
        return self.layers(x)


def fit_space_map(audio: Tensor, text: Tensor, *, rotate: bool = True) -> dict[str, Tensor]:
    """The map from the projected audio space to the projected text space, for zero-shot use.

    CKA-type losses align the two sides only up to translation, rotation
    and isotropic scale (they compare centred Gram matrices), so the
    coordinates of an audio vector and of its report's vector need not
    agree. This fits, on the training pairs of the alignment corpus, each
    side's mean and the orthogonal Procrustes rotation ``R = U Vᵀ``
    (``U S Vᵀ = svd((A − μa)ᵀ (T − μt))``, thin SVD) that best maps the
    centred audio vectors onto the centred text vectors; when the widths
    differ (an encoder embedding aligned to a wider teacher) ``R`` is the
    semi-orthogonal (Da, Dt) solution of the same problem. With
    ``rotate=False`` (losses that train the coordinates to agree, such as
    InfoNCE) the map is the identity.

    Parameters
    ----------
    audio : Tensor, shape (N, Da)
    text : Tensor, shape (N, Dt)
        The two sides of the same N pairs (projected, or embedding and teacher vector).

    Returns
    -------
    dict
        ``audio_mean`` (Da,), ``text_mean`` (Dt,), ``rotation`` (Da, Dt), float32.
    """
    audio, text = audio.double(), text.double()
    if not rotate:
        if audio.shape[1] != text.shape[1]:
            raise ValueError(f"an identity space map needs equal widths, got {audio.shape[1]} and {text.shape[1]}")
        zero = torch.zeros(audio.shape[1], dtype=torch.float32)
        return {"audio_mean": zero, "text_mean": zero.clone(), "rotation": torch.eye(audio.shape[1])}
    mu_a, mu_t = audio.mean(dim=0), text.mean(dim=0)
    u, _, vh = torch.linalg.svd((audio - mu_a).T @ (text - mu_t), full_matrices=False)
    return {"audio_mean": mu_a.float(), "text_mean": mu_t.float(), "rotation": (u @ vh).float()}


def map_audio(audio: Tensor, space_map: dict[str, Tensor]) -> Tensor:
    """Audio vectors (N, Da) → text-space coordinates (N, Dt), centred on the corpus text mean."""
    return (audio - space_map["audio_mean"].to(audio)) @ space_map["rotation"].to(audio)


def map_text(text: Tensor, space_map: dict[str, Tensor]) -> Tensor:
    """Text vectors (N, Dt), centred on the corpus text mean."""
    return text - space_map["text_mean"].to(text)
