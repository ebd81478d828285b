# cython: language_level=3
"""The walk of curation.ops.html_walk over lxml's C nodes: the same (text, marks) as its Python `walk` (see
its docstring), without a Python object per node, per text node or per attribute lookup: text goes into one
UTF-8 buffer (characters counted as code points), each node's context lives in a C struct, and Python objects
are made only for class/id values, block boundaries and keyworded elements. `cut` is html_walk's `_cut` with
whitespace-only spans skipped in C. Built at install; html_walk falls back to its Python twins where it is not."""

from cpython.ref cimport PyObject
from cpython.unicode cimport (
    Py_UNICODE_ISALNUM,
    Py_UNICODE_ISSPACE,
    PyUnicode_DATA,
    PyUnicode_DecodeUTF8,
    PyUnicode_KIND,
    PyUnicode_READ,
)
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, strcmp, strlen, strstr
from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Element, import_lxml__etree

import_lxml__etree()


cdef inline str _text(const char* s):
    return PyUnicode_DecodeUTF8(s, strlen(s), NULL)


cdef object _attribute(tree.xmlNode* node, const char* name):
    """The value of attribute `name` without a namespace, as lxml's `get` returns it (None when absent)."""
    cdef tree.xmlAttr* attr = node.properties
    cdef tree.xmlNode* part
    while attr is not NULL:
        if attr.ns is NULL and strcmp(<const char*>attr.name, name) == 0:
            part = attr.children
            if part is NULL:
                return ""
            if part.next is NULL and part.content is not NULL:
                return _text(<const char*>part.content)
            values = []
            while part is not NULL:
                if part.content is not NULL:
                    values.append(_text(<const char*>part.content))
                part = part.next
            return "".join(values)
        attr = attr.next
    return None


cdef char* _flat(tree.xmlAttr* attr):
    """The attribute's value without ASCII whitespace, ASCII letters lower-cased, NUL-terminated, as html_walk's
    `_flat` makes it (the caller frees it; NULL when out of memory)."""
    cdef tree.xmlNode* part = attr.children
    cdef Py_ssize_t n = 0
    cdef const char* s
    cdef char* out
    cdef char ch
    while part is not NULL:
        if part.content is not NULL:
            n += strlen(<const char*>part.content)
        part = part.next
    out = <char*>malloc(n + 1)
    if out is NULL:
        return NULL
    n = 0
    part = attr.children
    while part is not NULL:
        if part.content is not NULL:
            s = <const char*>part.content
            while s[0]:
                ch = s[0]
                if not (ch == 32 or 9 <= ch <= 13):
                    out[n] = ch + 32 if 65 <= ch <= 90 else ch
                    n += 1
                s += 1
        part = part.next
    out[n] = 0
    return out


cdef struct Context:
    PyObject* tag  # borrowed from _Walk.names
    Py_ssize_t depth
    long long ancestors, keywords, near0, near1, near2
    Py_ssize_t span0, span1, span2  # indices into _Walk.spans of the 3 nearest block elements (-1: none)


cdef class _Walk:
    cdef char* buf  # the page's text, UTF-8
    cdef Py_ssize_t size, capacity, chars, linked
    cdef list marks, spans  # marks: (characters, linked characters, context); spans: [characters, linked characters]
    cdef list keyword_spans  # (first character, end character, KEYWORDS bits) of each keyworded element
    cdef dict names  # element name pointer -> (tag, is block, ANCESTOR_TAGS bit, is link, is skipped, may hide)
    cdef frozenset block_tags, skip_tags, never_hidden
    cdef tuple hiding_styles
    cdef dict ancestor_bits, cache
    cdef object keyword_bits

    def __dealloc__(self):
        free(self.buf)

    cdef Py_ssize_t add(self, const char* s) except -1:
        """Append `s` to the buffer; returns its length in code points."""
        cdef Py_ssize_t n = strlen(s), i, points = 0
        cdef char* grown
        if self.size + n > self.capacity:
            self.capacity = 2 * (self.size + n) + 4096
            grown = <char*>realloc(self.buf, self.capacity)
            if grown is NULL:
                raise MemoryError()
            self.buf = grown
        memcpy(self.buf + self.size, s, n)
        self.size += n
        for i in range(n):
            points += (s[i] & 0xC0) != 0x80
        self.chars += points
        return points

    cdef tuple name(self, const char* c_name):
        info = self.names.get(<size_t>c_name)
        if info is None:
            tag = _text(c_name)
            info = (
                tag,
                tag in self.block_tags,
                self.ancestor_bits.get(tag, 0),
                tag == "a",
                tag in self.skip_tags,
                tag not in self.never_hidden,
            )
            self.names[<size_t>c_name] = info
        return info

    cdef int hidden(self, tree.xmlNode* el) except -1:
        """html_walk.hidden in C: the first `hidden`, `aria-hidden` and `style` attribute (as lxml's `get` finds
        them)."""
        cdef tree.xmlAttr* attr = el.properties
        cdef const char* name
        cdef char* flat
        cdef bint seen_aria = False, seen_style = False, hides
        while attr is not NULL:
            if attr.ns is NULL:
                name = <const char*>attr.name
                if strcmp(name, "hidden") == 0:
                    return True
                if (strcmp(name, "aria-hidden") == 0 and not seen_aria) or (
                    strcmp(name, "style") == 0 and not seen_style
                ):
                    flat = _flat(attr)
                    if flat is NULL:
                        raise MemoryError()
                    if name[0] == 97:  # "aria-hidden"
                        seen_aria, hides = True, strcmp(flat, "true") == 0
                    else:
                        seen_style, hides = True, False
                        for pattern in self.hiding_styles:
                            if strstr(flat, <const char*>pattern) is not NULL:
                                hides = True
                                break
                    free(flat)
                    if hides:
                        return True
            attr = attr.next
        return False

    cdef tuple context(self, Context* c):
        chain = tuple([self.spans[i] for i in (c.span0, c.span1, c.span2) if i >= 0])
        return (<object>c.tag, c.depth, c.ancestors, c.keywords, c.near0 | c.near1 | c.near2, chain)

    cdef int visit(self, tree.xmlNode* el, Context* parent, bint link) except -1:
        cdef Context c = parent[0]
        cdef tree.xmlNode* child
        cdef list span = None
        cdef Py_ssize_t points, first
        cdef long long own = 0
        info = self.name(<const char*>el.name)
        # left out with everything inside; its tail is the parent's text
        if info[4] or (info[5] and el.properties is not NULL and self.hidden(el)):
            return 0
        tag = info[0]
        c.tag = <PyObject*>tag
        c.depth += 1
        c.ancestors |= <long long>info[2]
        cls, ident = _attribute(el, b"class"), _attribute(el, b"id")
        if cls or ident:
            key = f"{cls} {ident}"
            bits = self.cache.get(key)
            if bits is None:
                bits = self.keyword_bits(key)
            own = bits
            if own:
                c.keywords |= own
                c.near2, c.near1, c.near0 = c.near1, c.near0, own
        if info[3]:
            link = True
        first = self.chars
        if info[1]:
            span = [self.chars, self.linked]
            self.spans.append(span)
            c.span2, c.span1, c.span0 = c.span1, c.span0, len(self.spans) - 1
            self.marks.append((self.chars, self.linked, self.context(&c)))
        child = el.children
        while child is not NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                self.visit(child, &c, link)
            elif (
                child.type == tree.XML_TEXT_NODE or child.type == tree.XML_CDATA_SECTION_NODE
            ) and child.content is not NULL:
                points = self.add(<const char*>child.content)
                if link:
                    self.linked += points
            child = child.next
        if span is not None:
            span[0], span[1] = self.chars - span[0], self.linked - span[1]
            self.marks.append((self.chars, self.linked, self.context(parent)))
        if own:
            self.keyword_spans.append((first, self.chars, own))
        return 0


def walk(
    _Element root,
    *,
    frozenset block_tags,
    frozenset skip_tags,
    frozenset never_hidden,
    tuple hiding_styles,
    dict ancestor_bits,
    dict cache,
    keyword_bits,
):
    """(text, marks, keyword spans) of `root`'s subtree, as html_walk.walk returns them."""
    cdef _Walk w = _Walk()
    cdef Context top
    w.buf, w.size, w.capacity, w.chars, w.linked = NULL, 0, 0, 0, 0
    w.marks, w.spans, w.names, w.keyword_spans = [], [], {}, []
    w.block_tags, w.skip_tags, w.ancestor_bits = block_tags, skip_tags, ancestor_bits
    w.never_hidden, w.hiding_styles = never_hidden, hiding_styles
    w.cache, w.keyword_bits = cache, keyword_bits
    body = "body"
    top.tag = <PyObject*>body
    top.depth = top.ancestors = top.keywords = top.near0 = top.near1 = top.near2 = 0
    top.span0, top.span1, top.span2 = 0, -1, -1
    root_span = [0, 0]
    w.spans.append(root_span)
    w.visit(root._c_node, &top, False)
    root_span[0], root_span[1] = w.chars, w.linked
    w.marks.append((w.chars, w.linked, w.context(&top)))
    return PyUnicode_DecodeUTF8(w.buf, w.size, NULL), w.marks, w.keyword_spans


def cut(str text, list marks):
    """(texts, tags, numbers, bounds) of the blocks between consecutive marks, as html_walk._cut makes them: one scan of
    each span in C tells whether it has a word character (re's `\\w`: alphanumeric or `_`) and whether its
    whitespace is already collapsed (then the span is the block as it is)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t start = 0, start_linked = 0, end, end_linked, i
    cdef Py_UCS4 ch
    cdef bint word, collapsed, space
    cdef tuple mark, ctx = marks[len(marks) - 1][2], chain
    cdef list texts = [], tags = [], numbers = [], bounds = []
    for mark in marks:
        end, end_linked = mark[0], mark[1]
        if end > start:
            word, collapsed, space = False, True, True  # `space`: the previous character was whitespace
            for i in range(start, end):
                ch = PyUnicode_READ(kind, data, i)
                if Py_UNICODE_ISSPACE(ch):
                    if space or ch != 32:
                        collapsed = False
                    space = True
                else:
                    if not word and (ch == 95 or Py_UNICODE_ISALNUM(ch)):
                        word = True
                    space = False
            if word:
                texts.append(text[start:end] if collapsed and not space else " ".join(text[start:end].split()))
                tags.append(ctx[0])
                bounds.extend((start, end))
                numbers.extend((end_linked - start_linked, ctx[1], ctx[2], ctx[3], ctx[4]))
                chain = ctx[5]
                for span in chain:
                    numbers.extend(span)
                for i in range(3 - len(chain)):
                    numbers.extend((0, 0))
        start, start_linked, ctx = end, end_linked, mark[2]
    return texts, tags, numbers, bounds
