# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""curation.ops.block_features.stage2_rows in C: each block's stage-2 context columns (the ones `context_features`
there computes with numpy; same definitions, sums taken in order, so values agree to rounding) and then its
stage-1 features, written into one array in a few passes over the page. Built at install; block_features falls
back to its numpy twin where it is not."""

import numpy as np

from libc.math cimport log1p


cdef inline Py_ssize_t _lo(Py_ssize_t i, Py_ssize_t radius) noexcept nogil:
    return i - radius if i > radius else 0


cdef inline Py_ssize_t _hi(Py_ssize_t i, Py_ssize_t radius, Py_ssize_t k) noexcept nogil:
    return i + radius + 1 if i + radius + 1 < k else k


def stage2_rows(
    const double[::1] p,
    const double[::1] chars,
    const long long[:, ::1] numbers,
    Py_ssize_t span_column,
    const double[:, ::1] x,
    int n_context,
    double confident_p,
):
    """Rows of [context columns of stage-1 P `p`, x] for blocks of `chars` characters whose 3 nearest enclosing
    elements' [characters, linked characters] are numbers[:, span_column:span_column + 6]."""
    cdef Py_ssize_t k = p.shape[0], n_x = x.shape[1], i, j, level, outer, lo, hi, start
    cdef Py_ssize_t first = -1, last = -1, n_conf = 0, prev
    cdef double total = 0.0, p_max = p[0], p_sum = 0.0, pc_sum = 0.0, conf_chars = 0.0, s_pc, s_ch
    cdef long long c, l, c_prev = 0, l_prev = 0
    rows = np.empty((k, n_context + n_x))
    if k == 0:
        return rows
    scratch = np.empty((5, k + 1))
    cdef double[:, ::1] out = rows
    cdef double[::1] cum_p = scratch[0], cum_pc = scratch[1], cum_ch = scratch[2], pc = scratch[3]
    cdef double[::1] nxt = scratch[4]
    with nogil:
        cum_p[0] = cum_pc[0] = cum_ch[0] = 0.0
        for i in range(k):
            pc[i] = p[i] * chars[i]
            cum_p[i + 1] = cum_p[i] + p[i]
            cum_pc[i + 1] = cum_pc[i] + pc[i]
            cum_ch[i + 1] = cum_ch[i] + chars[i]
            p_sum += p[i]
            pc_sum += pc[i]
            if p[i] > p_max:
                p_max = p[i]
            if p[i] >= confident_p:
                if first < 0:
                    first = i
                last = i
                n_conf += 1
                conf_chars += chars[i]
        total = cum_ch[k] if cum_ch[k] > 1.0 else 1.0
        for i in range(k):
            out[i, 0] = p[i]
            out[i, 1] = p[i - 1] if i >= 1 else -1.0
            out[i, 2] = p[i - 2] if i >= 2 else -1.0
            out[i, 3] = p[i + 1] if i + 1 < k else -1.0
            out[i, 4] = p[i + 2] if i + 2 < k else -1.0
            lo, hi = _lo(i, 1), _hi(i, 1, k)
            out[i, 5] = (cum_p[hi] - cum_p[lo]) / <double>(hi - lo)
            lo, hi = _lo(i, 3), _hi(i, 3, k)
            out[i, 6] = (cum_p[hi] - cum_p[lo]) / <double>(hi - lo)
            lo, hi = _lo(i, 10), _hi(i, 10, k)
            out[i, 7] = (cum_p[hi] - cum_p[lo]) / <double>(hi - lo)
            lo, hi = _lo(i, 2), _hi(i, 2, k)
            s_ch = cum_ch[hi] - cum_ch[lo]
            out[i, 8] = (cum_pc[hi] - cum_pc[lo]) / (s_ch if s_ch > 1.0 else 1.0)
            lo, hi = _lo(i, 10), _hi(i, 10, k)
            s_ch = cum_ch[hi] - cum_ch[lo]
            out[i, 9] = (cum_pc[hi] - cum_pc[lo]) / (s_ch if s_ch > 1.0 else 1.0)
        for level in range(3):  # runs of blocks in one enclosing element, known by its [characters, linked]
            start = 0
            for i in range(k + 1):
                if i < k:
                    c, l = numbers[i, span_column + 2 * level], numbers[i, span_column + 2 * level + 1]
                    outer = level - 1
                    while c == 0 and outer >= 0:  # fewer enclosing elements: the outermost one it has
                        c, l = numbers[i, span_column + 2 * outer], numbers[i, span_column + 2 * outer + 1]
                        outer -= 1
                if i == k or (i > 0 and (c != c_prev or l != l_prev)):
                    s_ch = cum_ch[i] - cum_ch[start]
                    s_pc = 0.0
                    for j in range(start, i):
                        s_pc += pc[j]
                    s_pc = s_pc / (s_ch if s_ch > 1.0 else 1.0)
                    for j in range(start, i):
                        out[j, 10 + level] = s_pc
                    start = i
                c_prev, l_prev = c, l
        if n_conf:
            prev = -1
            for i in range(k - 1, -1, -1):  # the next confident block at or after each block
                if p[i] >= confident_p:
                    prev = i
                nxt[i] = prev
            prev = -1
            for i in range(k):
                if p[i] >= confident_p:
                    prev = i
                out[i, 13] = 1.0 if first <= i <= last else 0.0
                out[i, 14] = log1p(<double>(i - prev if prev >= 0 else k))
                out[i, 15] = log1p(<double>(<Py_ssize_t>nxt[i] - i if nxt[i] >= 0 else k))
                if i < first:
                    out[i, 16] = (cum_ch[first] - cum_ch[i] - chars[i]) / total
                elif i > last:
                    out[i, 16] = (cum_ch[i] - (cum_ch[last] + chars[last])) / total
                else:
                    out[i, 16] = 0.0
        else:
            for i in range(k):
                out[i, 13] = 0.0
                out[i, 14] = out[i, 15] = log1p(<double>k)
                out[i, 16] = 1.0
        for i in range(k):
            out[i, 17] = p_max
            out[i, 18] = p_sum / k
            out[i, 19] = pc_sum / total
            out[i, 20] = conf_chars / total
            out[i, 21] = log1p(<double>n_conf)
            out[i, 22] = p[i] / (p_max if p_max > 1e-9 else 1e-9)
            out[i, 23] = log1p(chars[i])
            for j in range(n_x):
                out[i, n_context + j] = x[i, j]
    return rows
