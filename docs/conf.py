"""Sphinx configuration of archtune's documentation site (built with ``sphinx-build -W``: warnings fail)."""

from __future__ import annotations

import archtune

project = "archtune"
author = "archtune contributors"
copyright = "archtune contributors"
release = version = archtune.__version__

extensions = [
    "myst_parser",  # the pages are Markdown (MyST), like the docs/*.md files that came before the site
    "sphinx.ext.autodoc",  # the API reference is generated from the docstrings ...
    "sphinx.ext.napoleon",  # ... which are Google style
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# Broken internal references must fail the build (with -W): every Python reference (:class:, :func:,
# type hints in signatures) has to resolve, and every Markdown link to a page or heading too.
nitpicky = True
myst_heading_anchors = 3  # links such as [x](guides/resume.md#extending-a-space) are checked
myst_enable_extensions = ["colon_fence"]
suppress_warnings: list[str] = []

# Names from other projects: there is no intersphinx (the build runs offline), so references to them
# cannot resolve. Only these are forgiven; an unresolved archtune name still fails the build.
nitpick_ignore_regex = [
    (
        r"py:(class|obj|exc|func|data|meth|attr|mod)",
        r"(np|numpy|torch|nn|go|plotly|distributed|dask|scipy|sklearn|concurrent|collections|os|pathlib|typing|"
        r"argparse|http|threading|multiprocessing|subprocess|datetime|json|sqlite3|abc|dataclasses)(\..*)?",
    ),
    (
        r"py:(class|obj|exc)",
        r"(Any|Callable|Mapping|Sequence|Iterator|Iterable|Literal|Path|PathLike|Future|Executor|T|"
        r"ValueError|TypeError|KeyError|RuntimeError|UserWarning|Exception|int|float|str|bool|None|"
        r"ndarray|Tensor|Module|Figure|Client|LocalCluster|optional|callable|ABC|Encoding)",
    ),
    (r"py:class", r"archtune(\.\w+)*\.T"),  # type variables (TypeVar("T")) in signatures
    (r"py:class", r"(list\[)?dict\[str"),  # napoleon splits "dict[str, float]" in an attribute's type
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_inherit_docstrings = False  # a method without a docstring of its own shows none, not its base's
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"archtune {release}"
