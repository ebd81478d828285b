"""Binary gradient-boosted tree ensembles exported from scikit-learn as JSON, evaluated without it: in C
(curation/ops/_tree_scores.pyx, built at install) or, where that was not built, in numpy."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from curation.ops.compiled import compiled_module


@dataclass(frozen=True)
class TreeEnsemble:
    """Binary gradient-boosted trees, each laid out as a complete tree of depth `max_depth` (x[feature] <=
    threshold goes left; node i's children are 2i+1 and 2i+2), so evaluation is `max_depth` array steps for all
    trees and rows at once; a leaf above the full depth becomes a node whose whole subtree carries its value.
    The leaf values add up to a logit."""

    feature: np.ndarray  # (trees, 2**max_depth - 1) internal nodes
    threshold: np.ndarray  # (trees, 2**max_depth - 1)
    value: np.ndarray  # (trees, 2**max_depth) leaves
    baseline: float
    max_depth: int
    n_features: int

    @classmethod
    def from_json(cls, payload: dict) -> TreeEnsemble:
        depth = int(payload["max_depth"])
        n_inner, n_trees = 2**depth - 1, len(payload["trees"])
        feature = np.zeros((n_trees, n_inner), dtype=np.intp)
        threshold = np.full((n_trees, n_inner), np.inf)
        value = np.zeros((n_trees, 2**depth))
        for t, tree in enumerate(payload["trees"]):

            def place(node: int, slot: int, level: int, tree: dict = tree, t: int = t) -> None:
                """Put `tree`'s `node` at complete-layout `slot` of `level`."""
                if tree["leaf"][node]:
                    first = (slot + 1) * 2 ** (depth - level) - 2**depth  # leftmost leaf under `slot`
                    value[t, first : first + 2 ** (depth - level)] = tree["value"][node]
                    return
                feature[t, slot], threshold[t, slot] = tree["feature"][node], tree["threshold"][node]
                place(tree["left"][node], 2 * slot + 1, level + 1)
                place(tree["right"][node], 2 * slot + 2, level + 1)

            place(0, 0, 0)
        return cls(
            feature=feature,
            threshold=threshold,
            value=value,
            baseline=float(payload["baseline"]),
            max_depth=depth,
            n_features=int(payload["n_features"]),
        )

    def proba(self, x: np.ndarray, compiled: bool = True) -> np.ndarray:
        """P(main text) per row of `x` (`compiled`: through `_tree_scores` where it was built)."""
        if x.shape[1] != self.n_features:
            raise ValueError(f"model expects {self.n_features} features, got {x.shape[1]}")
        x = np.ascontiguousarray(x, dtype=np.float64)
        scores = _compiled_scores() if compiled else None
        if scores is not None:
            raw = np.empty(len(x))
            scores(x, self.feature, self.threshold, self.value, self.max_depth, raw)
        else:
            raw = self._raw_numpy(x)
        return 1.0 / (1.0 + np.exp(-(self.baseline + raw)))

    def _raw_numpy(self, x: np.ndarray) -> np.ndarray:
        """Sum of leaf values per row, all trees and rows at once, `max_depth` array steps."""
        n_trees, n_inner = self.feature.shape
        flat_feature, flat_threshold = self.feature.ravel(), self.threshold.ravel()
        tree_base = np.arange(n_trees, dtype=np.intp) * n_inner
        row_base = np.arange(len(x), dtype=np.intp)[:, None] * x.shape[1]
        slot = np.zeros((len(x), n_trees), dtype=np.intp)
        flat_x = x.ravel()
        for _ in range(self.max_depth):
            node = tree_base + slot
            go_left = flat_x.take(row_base + flat_feature.take(node)) <= flat_threshold.take(node)
            slot = 2 * slot + 2 - go_left
        leaf = slot - n_inner + np.arange(n_trees, dtype=np.intp) * (n_inner + 1)
        return self.value.ravel().take(leaf).sum(axis=1)


@functools.lru_cache(maxsize=1)
def _compiled_scores():
    """`_tree_scores.raw_scores` (built at install), or None where it was not built."""
    module = compiled_module("_tree_scores")
    return module.raw_scores if module is not None else None
