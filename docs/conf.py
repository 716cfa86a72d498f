"""Sphinx configuration of the skweights documentation (``make docs``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import skweights

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "skweights"
author = "the skweights developers"
copyright = "2026, the skweights developers"
release = version = skweights.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "architecture.md", "**/*.ipynb"]
html_theme = "alabaster"
html_static_path: list[str] = []
default_role = "py:obj"

# -- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections give the types
autodoc_inherit_docstrings = False  # sklearn / keras base-class docstrings are not numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- sphinx-gallery -------------------------------------------------------------------------
# The examples run in quick mode (a tiny zoo, short runs) unless SKWEIGHTS_DOCS_FULL=1;
# SKWEIGHTS_DOCS_PLOT_GALLERY=0 renders them without running them.
plot_gallery = os.environ.get("SKWEIGHTS_DOCS_PLOT_GALLERY", "1") != "0"
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SKWEIGHTS_EXAMPLE_OUT", str(DOCS / "_build" / "example-output"))
if os.environ.get("SKWEIGHTS_DOCS_FULL") != "1":
    os.environ.setdefault("SKWEIGHTS_EXAMPLE_QUICK", "1")
    if plot_gallery and "SKWEIGHTS_EXAMPLE_ZOO" not in os.environ:
        from skweights.zoo import generate_zoo

        # the zoo the examples train in quick mode, shared by all of them (cached, resumable)
        os.environ["SKWEIGHTS_EXAMPLE_ZOO"] = str(
            generate_zoo(
                ROOT / "zoos" / "example-digits-n48-e4",
                dataset="digits",
                n_networks=48,
                epochs=4,
                seed=0,
                workers=1,
                progress=False,
            )
        )

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": plot_gallery,
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 5,
}


# -- docstring fixes ------------------------------------------------------------------------
_SHAPE_WITH_ATTRIBUTE = re.compile(r"\((\w+_),\)")


def _quote_fitted_attributes_in_shapes(app, what, name, obj, options, lines):
    """``(n_features_in_,)`` in a type is a docutils hyperlink reference: quote the name."""
    lines[:] = [_SHAPE_WITH_ATTRIBUTE.sub(r"(``\1``,)", line) for line in lines]


def setup(app):
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", _quote_fitted_attributes_in_shapes, priority=100)
