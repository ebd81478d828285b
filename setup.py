"""Builds the two compiled modules of the `blocks` extraction engine: curation/ops/_html_walk (Cython over
lxml's C API) and curation/ops/_tree_scores; everything else is in pyproject.toml. Where they cannot be
built, the install goes on and the engine uses the Python walk (html_walk) and numpy tree evaluation
(tree_ensemble)."""

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

walk = Extension(
    "curation.ops._html_walk",
    ["curation/ops/_html_walk.pyx"],
    include_dirs=lxml.get_include(),
    optional=True,
)
scores = Extension("curation.ops._tree_scores", ["curation/ops/_tree_scores.pyx"], optional=True)
setup(ext_modules=cythonize([walk, scores], language_level=3, quiet=True))
