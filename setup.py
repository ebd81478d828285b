"""Builds the one compiled module, curation/ops/_html_walk (Cython over lxml's C API); everything else is in
pyproject.toml. Where it cannot be built, the install goes on and html_blocks uses its Python walk."""

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

walk = Extension(
    "curation.ops._html_walk",
    ["curation/ops/_html_walk.pyx"],
    include_dirs=lxml.get_include(),
    optional=True,
)
setup(ext_modules=cythonize([walk], language_level=3, quiet=True))
