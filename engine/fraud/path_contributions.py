"""PathContributions: per-feature contributions of a LightGBM model from each tree's decision path.

Each split moves a row from the node's expected value to the child's; that change is credited to the
split's feature (the Saabas / treeinterpreter decomposition). Summed over trees they add up exactly to
the model's log-odds minus a constant bias. They are precomputed per leaf; numba kernels find each row's leaf
in every tree (LightGBM's own split rule, missing values included) and add up the leaves' rows: ~8 µs a row
at 500 rows, where LightGBM's `pred_leaf` and a sparse one-hot x leaf-table product cost ~17 µs (LightGBM's
TreeSHAP, `pred_contrib`, ~1.3 ms). Each row sums its trees in tree order, whatever the batch: a batch scores
as its rows alone. The kernel lets go of the GIL, so Faust's consumer thread runs meanwhile.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numba
import numpy as np
import numpy.typing as npt

# LightGBM's kZeroThreshold (a float): with missing_type Zero, values this close to 0 take the default side.
ZERO_THRESHOLD = float(np.float32(1e-35))
MISSING = {"None": 0, "Zero": 1, "NaN": 2}


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
        self._flat = self.table.reshape(len(trees) * max_leaves, features)  # row t * max_leaves + leaf
        self._offsets = np.arange(len(trees), dtype=np.int64) * max_leaves
        self._nodes = _Nodes(trees)

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
        _, contributions = self._descend(x, add_up=True)
        return self.bias + contributions.sum(axis=1), contributions

    def leaves(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """The leaf each row reaches in each tree, (rows, trees): what LightGBM's predict(pred_leaf=True) gives."""
        found, _ = self._descend(x, add_up=False)
        return found

    def _descend(self, x: npt.NDArray[np.float64], add_up: bool
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        n = self._nodes
        rows = np.ascontiguousarray(x, dtype=np.float64)
        if n.plain:  # every split sends a missing value (NaN) where 0 would go: LightGBM's rule for them
            rows = np.where(np.isnan(rows), 0.0, rows)
        # Only the asked-for output is allocated and filled: scoring needs no (rows, trees) leaf matrix.
        found = np.empty((0, 0) if add_up else (len(rows), len(self._offsets)), dtype=np.int64)
        contributions = np.zeros((len(rows), self._flat.shape[1]) if add_up else (0, 0))
        _walk_trees(rows, n.feature, n.threshold, n.children, n.default_left, n.missing, n.plain, n.roots, n.depths,
                    self._offsets, self._flat, add_up, found, contributions)
        return found, contributions


class _Nodes:
    """Every tree's internal nodes in flat arrays; a child >= 0 is a node, ~leaf (< 0) a leaf of that tree."""

    def __init__(self, trees: list[dict[str, Any]]) -> None:
        feature: list[int] = []
        threshold: list[float] = []
        children: list[list[int]] = []
        default_left: list[bool] = []
        missing: list[int] = []

        def add(node: dict[str, Any]) -> tuple[int, int]:
            """(index or ~leaf, depth below) of a node and the nodes under it."""
            if "leaf_index" in node:
                return ~int(node["leaf_index"]), 0
            if node["decision_type"] != "<=":
                raise ValueError(f"categorical splits are not supported (decision {node['decision_type']!r})")
            at = len(feature)
            feature.append(int(node["split_feature"]))
            threshold.append(float(node["threshold"]))
            default_left.append(bool(node["default_left"]))
            missing.append(MISSING[node["missing_type"]])
            children.append([0, 0])
            (children[at][0], left_depth), (children[at][1], right_depth) = (add(node["left_child"]),
                                                                              add(node["right_child"]))
            return at, 1 + max(left_depth, right_depth)

        roots = [add(tree["tree_structure"]) for tree in trees]
        self.roots = np.array([root for root, _ in roots], dtype=np.int64)
        self.depths = np.array([depth for _, depth in roots], dtype=np.int64)
        self.feature = np.array(feature, dtype=np.int64)
        self.threshold = np.array(threshold, dtype=np.float64)
        self.children = np.array(children, dtype=np.int64).reshape(len(feature), 2)
        self.default_left = np.array(default_left, dtype=np.bool_)
        self.missing = np.array(missing, dtype=np.int64)
        self.plain = not self.missing.any()  # no split treats zeros or NaN apart (trained on finite features)


@numba.njit(cache=True, nogil=True)
def _goes_right(value: float, threshold: float, kind: int, default_left: bool) -> int:
    """LightGBM's NumericalDecision: 1 if `value` takes the right child."""
    if np.isnan(value) and kind != 2:
        value = 0.0
    if (kind == 1 and -ZERO_THRESHOLD <= value <= ZERO_THRESHOLD) or (kind == 2 and np.isnan(value)):
        return 0 if default_left else 1
    return 1 if value > threshold else 0


@numba.njit(cache=True, nogil=True)
def _walk_trees(x: Any, feature: Any, threshold: Any, children: Any, default_left: Any,  # noqa: PLR0913  arrays
                missing: Any, plain: bool, roots: Any, depths: Any, offsets: Any, flat: Any, add_up: bool,
                found: Any, out: Any) -> None:
    # Tree by tree, all rows one level at a time: each row's step is an index, not a branch the CPU must
    # guess, and the rows' steps overlap: 8 µs a row at 500 handbook rows, against 13 µs walking one row down
    # a tree at a time. Rows add up their leaves in tree order, so a row's sums do not depend on its batch.
    nodes = np.empty(x.shape[0], dtype=np.int64)
    for t in range(roots.shape[0]):
        nodes[:] = roots[t]
        for _ in range(depths[t]):
            for r in range(x.shape[0]):
                node = nodes[r]
                if node >= 0:
                    value = x[r, feature[node]]
                    if plain:
                        nodes[r] = children[node, np.int64(value > threshold[node])]
                    else:
                        nodes[r] = children[node, _goes_right(value, threshold[node], missing[node],
                                                              default_left[node])]
        for r in range(x.shape[0]):
            leaf = ~nodes[r]
            if add_up:
                leaf_row = flat[offsets[t] + leaf]
                for f in range(out.shape[1]):
                    out[r, f] += leaf_row[f]
            else:
                found[r, t] = leaf
