# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The feature rows of curation.ops.block_features in C: `stage1_rows` (the columns `features` there computes
with numpy) and `stage2_rows` (each block's context columns, `context_features` there, then its stage-1 row),
each written into one array in a few passes over the page. Same operations as the numpy twins in the same
order (counts, running sums, divisions), so the rows are bit-identical; the logarithms of some counts are left
to numpy (block_features), whose log1p can differ in the last bit from the C library's. Built at install;
block_features falls back to its numpy twins where it is not."""

import numpy as np

from cpython.unicode cimport Py_UNICODE_ISUPPER, PyUnicode_DATA, PyUnicode_KIND, PyUnicode_READ
from libc.stdlib cimport qsort


cdef inline Py_ssize_t _lo(Py_ssize_t i, Py_ssize_t radius) noexcept nogil:
    return i - radius if i > radius else 0


cdef inline Py_ssize_t _hi(Py_ssize_t i, Py_ssize_t radius, Py_ssize_t k) noexcept nogil:
    return i + radius + 1 if i + radius + 1 < k else k


cdef inline bint _punct(Py_UCS4 c) noexcept nogil:
    """One of block_features' punctuation characters (.,;:!?。、，．！？)."""
    return c in (46, 44, 59, 58, 33, 63, 0x3002, 0x3001, 0xFF0C, 0xFF0E, 0xFF01, 0xFF1F)


cdef inline bint _sentence_end(Py_UCS4 c) noexcept nogil:
    """One of block_features' sentence-end characters (.!?。！？…:"'”»))."""
    return c in (46, 33, 63, 0x3002, 0xFF01, 0xFF1F, 0x2026, 58, 34, 39, 0x201D, 0xBB, 41)


cdef int _compare(const void* a, const void* b) noexcept nogil:
    cdef double x = (<double*>a)[0], y = (<double*>b)[0]
    return (x > y) - (x < y)


def stage1_rows(
    list texts,
    list tags,
    const long long[:, ::1] numbers,
    dict own_index,
    dict own_group,
    int n_own,
    int n_ancestors,
    int n_keywords,
):
    """Stage-1 rows of blocks `texts` opened by `tags`, whose NUMBERS are `numbers` (link characters, depth,
    ancestor bits, keyword bits, near keyword bits, 3 enclosing elements' [characters, linked characters]).
    Column order as block_features.features: own (9), own tag one-hot (n_own), ancestor bits, keyword bits,
    near keyword bits, page (8), enclosing (9), previous and next block's basics (4 + 4)."""
    cdef Py_ssize_t k = len(texts), i, j, n, col, lo, hi
    cdef int kind, bit
    cdef void* data
    cdef Py_UCS4 ch
    cdef double spaces, punct, digits, words, total = 0.0, median, w_links, w_chars
    cdef str text
    cdef long long cont_c, cont_l
    cdef Py_ssize_t n_cols = 9 + n_own + n_ancestors + 2 * n_keywords + 8 + 9 + 8
    cdef Py_ssize_t neighbour[4]
    neighbour[:] = [0, 2, 3, 4]  # characters, link density, punctuation, sentence end
    rows = np.zeros((k, n_cols))
    if k == 0:
        return rows
    scratch = np.empty((4, k + 1))
    tag_cols = np.empty(k, dtype=np.intp)
    cdef double[:, ::1] out = rows
    cdef double[::1] chars = scratch[0], cum_ch = scratch[1], depths = scratch[2], cum_links = scratch[3]
    cdef Py_ssize_t[::1] tag_col_of = tag_cols
    for i in range(k):  # the Python part: code points of each text, and the tag's column
        text = texts[i]
        kind, data, n = PyUnicode_KIND(text), PyUnicode_DATA(text), len(text)
        spaces = punct = digits = 0.0
        for j in range(n):
            ch = PyUnicode_READ(kind, data, j)
            if ch == 32:
                spaces += 1.0
            elif _punct(ch):
                punct += 1.0
            elif 48 <= ch <= 57:
                digits += 1.0
        words = spaces + 1.0
        out[i, 0] = <double>n
        out[i, 1] = words
        out[i, 2] = min(1.0, <double>numbers[i, 0] / <double>n)
        out[i, 3] = punct / words
        out[i, 4] = 1.0 if _sentence_end(PyUnicode_READ(kind, data, n - 1)) else 0.0
        out[i, 5] = digits / <double>n
        out[i, 6] = (<double>n - words + 1.0) / words
        out[i, 7] = 1.0 if Py_UNICODE_ISUPPER(PyUnicode_READ(kind, data, 0)) else 0.0
        out[i, 8] = <double>numbers[i, 1]
        tag = tags[i]
        tag_col_of[i] = own_index.get(own_group.get(tag, tag), n_own - 1)
    with nogil:
        cum_ch[0] = cum_links[0] = 0.0
        for i in range(k):
            chars[i] = out[i, 0]
            total += chars[i]
            cum_ch[i + 1] = cum_ch[i] + chars[i]
            cum_links[i + 1] = cum_links[i] + <double>min(numbers[i, 0], <long long>chars[i])
            depths[i] = out[i, 8]
        qsort(&depths[0], k, sizeof(double), _compare)
        median = depths[k // 2] if k % 2 else (depths[k // 2 - 1] + depths[k // 2]) / 2.0
        for i in range(k):
            out[i, 9 + tag_col_of[i]] = 1.0
            col = 9 + n_own
            for bit in range(n_ancestors):
                out[i, col + bit] = <double>((numbers[i, 2] >> bit) & 1)
            col += n_ancestors
            for bit in range(n_keywords):
                out[i, col + bit] = <double>((numbers[i, 3] >> bit) & 1)
                out[i, col + n_keywords + bit] = <double>((numbers[i, 4] >> bit) & 1)
            col += 2 * n_keywords
            out[i, col] = <double>i / <double>(k - 1 if k > 1 else 1)
            out[i, col + 1] = (cum_ch[i + 1] - chars[i]) / (total if total > 1.0 else 1.0)
            out[i, col + 2] = chars[i] / (total if total > 1.0 else 1.0)
            out[i, col + 3] = total
            out[i, col + 4] = <double>k
            out[i, col + 5] = out[i, 8] - median
            lo, hi = _lo(i, 2), _hi(i, 2, k)
            w_links, w_chars = cum_links[hi] - cum_links[lo], cum_ch[hi] - cum_ch[lo]
            out[i, col + 6] = w_links / (w_chars if w_chars > 1.0 else 1.0)
            out[i, col + 7] = w_chars
            col += 8
            for j in range(3):
                cont_c, cont_l = numbers[i, 5 + 2 * j], numbers[i, 6 + 2 * j]
                out[i, col + j] = <double>cont_c
                out[i, col + 3 + j] = <double>cont_c / (total if total > 1.0 else 1.0)
                out[i, col + 6 + j] = <double>cont_l / (<double>cont_c if cont_c > 1 else 1.0)
            col += 9
            for j in range(4):
                out[i, col + j] = out[i - 1, neighbour[j]] if i >= 1 else -1.0
                out[i, col + 4 + j] = out[i + 1, neighbour[j]] if i + 1 < k else -1.0
    return rows


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
    cdef double total = 0.0, p_max = p[0], conf_chars = 0.0, s_pc, s_ch
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
                    s_pc = (cum_pc[i] - cum_pc[start]) / (s_ch if s_ch > 1.0 else 1.0)
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
                out[i, 14] = <double>(i - prev if prev >= 0 else k)
                out[i, 15] = <double>(<Py_ssize_t>nxt[i] - i if nxt[i] >= 0 else k)
                if i < first:
                    out[i, 16] = (cum_ch[first] - cum_ch[i] - chars[i]) / total
                elif i > last:
                    out[i, 16] = (cum_ch[i] - (cum_ch[last] + chars[last])) / total
                else:
                    out[i, 16] = 0.0
        else:
            for i in range(k):
                out[i, 13] = 0.0
                out[i, 14] = out[i, 15] = <double>k
                out[i, 16] = 1.0
        for i in range(k):
            out[i, 17] = p_max
            out[i, 18] = cum_p[k] / k
            out[i, 19] = cum_pc[k] / total
            out[i, 20] = conf_chars / total
            out[i, 21] = <double>n_conf
            out[i, 22] = p[i] / (p_max if p_max > 1e-9 else 1e-9)
            out[i, 23] = chars[i]
            for j in range(n_x):
                out[i, n_context + j] = x[i, j]
    return rows
