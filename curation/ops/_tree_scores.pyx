# cython: language_level=3, boundscheck=False, wraparound=False
"""Raw scores of curation.ops.tree_ensemble.TreeEnsemble in C: per row, every tree walked from its root
`depth` levels down its complete layout, the leaf values summed in tree order (built at install; the
ensemble falls back to its numpy evaluation where it is not)."""


def raw_scores(
    const double[:, ::1] x,
    const Py_ssize_t[:, ::1] feature,
    const double[:, ::1] threshold,
    const double[:, ::1] value,
    int depth,
    double[::1] out,
):
    """out[r] = sum over trees of the leaf value row r reaches (x[feature] <= threshold goes left)."""
    cdef Py_ssize_t r, t, slot, level, n_inner = feature.shape[1]
    cdef double total
    with nogil:
        for r in range(x.shape[0]):
            total = 0.0
            for t in range(feature.shape[0]):
                slot = 0
                for level in range(depth):
                    if x[r, feature[t, slot]] <= threshold[t, slot]:
                        slot = 2 * slot + 1
                    else:
                        slot = 2 * slot + 2
                total += value[t, slot - n_inner]
            out[r] = total
