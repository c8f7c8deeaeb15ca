"""Sparse incidence matrices of answers, built in linear time, and a linear-time stable order of integer keys.

Sums over the answers of a building (or frame) and over the answers of a volunteer are the same incidence
matrix used forwards and transposed: one pass over the answers each, with no per-iteration gathers.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["incidence_matrix", "stable_order"]


def stable_order(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integer keys below 2**32 by two 16-bit radix passes (linear time).

    Examples
    --------
    >>> stable_order(np.array([70000, 3, 70000, 1])).tolist()
    [3, 1, 0, 2]
    """
    low = (keys & 0xFFFF).astype(np.uint16)
    order = np.argsort(low, kind="stable")
    if keys.size and keys.max() > 0xFFFF:
        high = (keys[order] >> 16).astype(np.uint16)
        order = order[np.argsort(high, kind="stable")]
    return order


def incidence_matrix(
    rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n_rows: int, n_cols: int
) -> sparse.csr_matrix:
    """A CSR matrix from coordinates in linear time, keeping duplicates (a product sums them anyway).

    Examples
    --------
    >>> m = incidence_matrix(np.array([2, 0, 2]), np.array([1, 0, 1]), np.ones(3), 3, 2)
    >>> (m @ np.array([10.0, 1.0])).tolist()
    [10.0, 0.0, 2.0]
    """
    order = stable_order(rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    index_type = np.int32 if max(n_cols, rows.size) < 2**31 else np.int64
    return sparse.csr_matrix(
        (data[order], cols[order].astype(index_type), indptr.astype(index_type)), shape=(n_rows, n_cols)
    )
