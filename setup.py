"""Builds the three compiled modules of the `blocks` extraction engine: curation/ops/_html_walk (Cython over
lxml's C API), curation/ops/_tree_scores and curation/ops/_block_context; everything else is in pyproject.toml.
Where they cannot be built, the install goes on and the engine uses their Python twins: the walk and cut in
html_walk, the numpy tree evaluation in tree_ensemble and the numpy context features in block_features."""

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
context = Extension("curation.ops._block_context", ["curation/ops/_block_context.pyx"], optional=True)
setup(ext_modules=cythonize([walk, scores, context], language_level=3, quiet=True))
