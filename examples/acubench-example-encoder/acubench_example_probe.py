"""A third-party acubench probe head: k nearest neighbours by cosine similarity, in numpy.

Install the example package (``pip install ./examples/acubench-example-encoder``) and the
head shows up in ``acubench probes`` and works in ``acubench run --probe knn``. Its
:class:`~acubench.specs.ProbeSpec` tells the harness what it is: it wants standardised
features, it is deterministic (one fit serves every seed), it trains (it stores the
training set), and it reads no task option. Only numpy and acubench's cheap ground
modules are imported, so listing the plugin costs nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from acubench import contribute
from acubench.probe_base import Head
from acubench.specs import ProbeSpec

SPEC = ProbeSpec(
    id="knn",
    factory="acubench_example_probe:KNNProbe",
    deterministic=True,
    description="k nearest training clips by cosine similarity (an example plugin); k chosen on validation",
)


class KNNProbe(Head):
    """Votes (classification) or the mean target (regression) of the ``k`` most similar training clips."""

    GRID = ({"k": 5}, {"k": 15}, {"k": 35})
    DEFAULT: ClassVar[dict[str, Any]] = {"k": 15}

    def fit(self, X, y, X_val=None, y_val=None):
        self.X_ = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        self.y_ = np.asarray(y)
        return self

    def predict(self, X):
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        k = min(self.params["k"], len(self.X_))
        # The k largest similarities per row; a stable sort keeps ties in training order (deterministic).
        nearest = np.argsort(-(Xn @ self.X_.T), axis=1, kind="stable")[:, :k]  # (n, k)
        neighbours = self.y_[nearest]
        if not self.classification:
            return neighbours.mean(axis=1)
        votes = np.stack([(neighbours == c).mean(axis=1) for c in range(self.n_classes)], axis=1)
        return votes  # (n, n_classes): the share of neighbours in each class


plugin = contribute(probes=[SPEC])
