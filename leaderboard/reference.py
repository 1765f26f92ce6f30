"""Published reference numbers, kept as data so a table can set them beside ours.

Source: the OPERA benchmark paper,

    Y. Zhang, T. Xia, J. Han, Y. Wu, G. Rizos, Y. Liu, M. Mosuily, J. Chauhan,
    C. Mascolo. "Towards Open Respiratory Acoustic Foundation Models: Pretraining
    and Benchmarking." NeurIPS 2024 Datasets and Benchmarks Track. arXiv:2406.16148.

The numbers are the ones in ``res_analysis/calculate_rank.py`` of
github.com/evelyn0414/OPERA at commit 3622310 (the table the paper's ranking was
computed from): test AUROC for OPERA tasks 1–12 (mean ± std over five probe
seeds) and test MAE for tasks 13–19 (mean ± std over the leave-one-subject-out
folds). They were produced with OPERA's own split files and its linear probe, so
they compare most directly with our runs under ``--protocol reference --probe
reference-linear``.

The AcuLa paper (arXiv:2512.04847) reports results on the 18 tasks too, but its
per-task numbers were not available to us; none are given here, and none may be
added without their source.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Short citation shown under tables that carry published rows.
CITATION = (
    'Zhang et al., "Towards Open Respiratory Acoustic Foundation Models: Pretraining and Benchmarking", '
    "NeurIPS 2024 Datasets & Benchmarks, arXiv:2406.16148"
)
#: Where the numbers were read.
SOURCE = "res_analysis/calculate_rank.py, github.com/evelyn0414/OPERA @3622310"
#: Block label used wherever published rows are shown.
LABEL = "published (OPERA paper)"

#: Model names, in the column order of the source table.
MODELS: tuple[str, ...] = ("Opensmile", "VGGish", "AudioMAE", "CLAP", "OPERA-CT", "OPERA-CE", "OPERA-GT")

#: The acubench encoder each published column is (its ``encoder_id`` in exported tables). The OPERA
#: paper's "CLAP" is Microsoft's CLAP 2022 (``msclap``, CNN14, 1024-d projected embedding): acubench's
#: ``ms-clap``, not LAION's ``clap``. Opensmile and VGGish have no acubench encoder.
ENCODERS: Mapping[str, str] = {"AudioMAE": "audiomae", "CLAP": "ms-clap", "OPERA-CT": "opera-ct",
                               "OPERA-CE": "opera-ce", "OPERA-GT": "opera-gt"}

# OPERA task number → one (mean, std) per model, in MODELS order.
_AUROC_TASKS = range(1, 13)
_TABLE: Mapping[int, tuple[tuple[float, float], ...]] = {
    1: ((0.550, 0.015), (0.580, 0.001), (0.549, 0.001), (0.565, 0.001), (0.586, 0.008), (0.551, 0.010), (0.605, 0.001)),
    2: ((0.649, 0.006), (0.557, 0.005), (0.616, 0.001), (0.648, 0.003), (0.701, 0.002), (0.629, 0.006), (0.677, 0.001)),
    3: ((0.571, 0.006), (0.571, 0.003), (0.583, 0.003), (0.611, 0.006), (0.603, 0.005), (0.610, 0.004), (0.613, 0.002)),
    4: ((0.633, 0.012), (0.605, 0.004), (0.659, 0.001), (0.669, 0.002), (0.680, 0.006), (0.665, 0.001), (0.673, 0.001)),
    5: ((0.537, 0.011), (0.538, 0.028), (0.554, 0.004), (0.599, 0.007), (0.578, 0.001), (0.566, 0.008), (0.552, 0.003)),
    6: ((0.677, 0.005), (0.600, 0.001), (0.628, 0.001), (0.665, 0.001), (0.795, 0.001), (0.721, 0.001), (0.735, 0.000)),
    7: ((0.579, 0.043), (0.605, 0.077), (0.886, 0.017), (0.933, 0.005), (0.855, 0.012), (0.872, 0.011), (0.741, 0.011)),
    8: ((0.534, 0.060), (0.507, 0.027), (0.549, 0.022), (0.680, 0.009), (0.685, 0.012), (0.674, 0.013), (0.650, 0.005)),
    9: ((0.753, 0.008), (0.606, 0.003), (0.724, 0.001), (0.742, 0.001), (0.874, 0.000), (0.801, 0.002), (0.825, 0.001)),
    10: ((0.636, 0.082), (0.605, 0.036), (0.616, 0.041), (0.697, 0.004), (0.722, 0.016), (0.741, 0.014), (0.703, 0.016)),
    11: ((0.494, 0.054), (0.590, 0.034), (0.510, 0.021), (0.635, 0.040), (0.625, 0.038), (0.683, 0.007), (0.615, 0.019)),
    12: ((0.772, 0.005), (0.657, 0.002), (0.649, 0.001), (0.702, 0.001), (0.781, 0.000), (0.769, 0.000), (0.742, 0.001)),
    13: ((0.985, 0.743), (0.904, 0.568), (0.900, 0.551), (0.896, 0.542), (0.924, 0.583), (0.848, 0.607), (0.892, 0.618)),
    14: ((0.756, 0.721), (0.839, 0.563), (0.821, 0.590), (0.840, 0.547), (0.837, 0.563), (0.834, 0.581), (0.825, 0.560)),
    15: ((0.141, 0.185), (0.131, 0.146), (0.129, 0.146), (0.134, 0.146), (0.128, 0.140), (0.132, 0.141), (0.128, 0.141)),
    16: ((0.850, 0.592), (0.895, 0.559), (0.833, 0.588), (0.883, 0.560), (0.885, 0.553), (0.761, 0.544), (0.878, 0.550)),
    17: ((0.730, 0.497), (0.842, 0.559), (0.876, 0.561), (0.859, 0.541), (0.780, 0.542), (0.830, 0.561), (0.774, 0.554)),
    18: ((0.138, 0.166), (0.130, 0.145), (0.131, 0.141), (0.137, 0.147), (0.132, 0.140), (0.136, 0.150), (0.130, 0.138)),
    19: ((2.714, 0.902), (2.605, 0.759), (2.641, 0.813), (2.650, 0.947), (2.636, 0.858), (2.525, 0.782), (2.416, 0.885)),
}


def opera_metric(opera_task: int) -> str:
    """``"auroc"`` for OPERA tasks 1–12, ``"mae"`` for 13–19."""
    if opera_task not in _TABLE:
        raise KeyError(f"OPERA task {opera_task} is not in the published table (tasks 1–19)")
    return "auroc" if opera_task in _AUROC_TASKS else "mae"


def published(opera_task: int | None, *, metric: str | None = None) -> dict[str, tuple[float, float]]:
    """Published (mean, std) per model for one OPERA task.

    Parameters
    ----------
    opera_task : int or None
        The OPERA task number a record carries (``published_as["opera"]``,
        from the task spec); None gives nothing.
    metric : str, optional
        The column's metric; when given and different from the published
        metric, nothing is returned (the numbers would not be comparable).

    Returns
    -------
    dict
        Model name → (mean, std); empty when the task has no published number.
    """
    if opera_task is None or opera_task not in _TABLE:
        return {}
    if metric is not None and metric != opera_metric(opera_task):
        return {}
    return dict(zip(MODELS, _TABLE[opera_task], strict=True))
