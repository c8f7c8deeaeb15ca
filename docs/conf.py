"""Sphinx configuration of stracker's API reference: ``make docs`` builds it into ``docs/_build/html``.

The pages are plain reST: autodoc reads the package's numpydoc docstrings (numpydoc renders their sections and
validates them), and every module of the package except the command line (``stracker --help``) has a page.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not another installed one

import stracker

project = "stracker"
author = "stracker developers"
copyright = "stracker developers"
release = version = stracker.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
exclude_patterns = ["_build", "*.md"]
root_doc = "index"

# autodoc: members in the source's order, each object documented once, where it is defined (a package's page
# shows its docstring only, :no-members:, and its re-exports link to where they are defined, see
# resolve_python_name below); type hints stay in the signatures.
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# numpydoc: sections rendered as field lists, no autosummary stubs of class members (autodoc lists them), and
# these checks of every docstring fail the build (sphinx-build -W): known sections (GL06) in numpydoc's order
# (GL07), no parameter documented that the signature lacks (PR02), "name : type" (PR10), a Returns entry per
# value (RT02) and a Yields section for generators and context managers (YD01). Not checked: the project's style
# leaves self-evident parameters and returns without descriptions, and short helpers without Parameters.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"GL06", "GL07", "PR02", "PR10", "RT02", "YD01"}

# every cross-reference must resolve; the names of other projects have no inventory here (no network at build
# time), so they are shown unlinked (resolve_python_name), as are the few hints imported only for type checking.
nitpicky = True
nitpick_ignore_regex = [
    (
        "py:class",
        r"(np|pd|gpd|npt|numpy|pandas|geopandas|matplotlib|affine|dask|distributed|click|rasterio|scipy|sparse)\..*",
    ),
    ("py:class", r"Figure|Axes|Client|GeoDataFrame|DataFrame|Series|ArrayLike|NDArray"),
    # the type variables of the generic helpers (the blocks' and the threads' maps): autodoc names them, and they
    # have no page
    ("py:class", r"stracker\.(consensus\.blocks|parallel)\.[TR]"),
]

html_theme = "alabaster"
html_title = f"stracker {release}"
html_show_sourcelink = False


_MISSING = object()


def _python_object(name: str) -> Any:
    """The object a dotted name denotes (a module, or an attribute of one), or _MISSING."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def resolve_python_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python cross-reference that Sphinx did not find as Python would: the name in the docstring's
    module (``:func:`simulate``` in ``stracker`` is ``stracker.simulate``, re-exported from
    ``stracker.simulation``), linked to where the object is documented. A name of another project is shown
    unlinked; a name that is neither stays unresolved, and the build fails on it."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module, cls = node.get("py:module"), node.get("py:class")
    scopes = [f"{module}.{cls}" if module and cls else None, module, "stracker", ""]
    obj = _MISSING
    for scope in filter(lambda s: s is not None, scopes):
        obj = _python_object(f"{scope}.{target}" if scope else target)
        if obj is not _MISSING:
            break
    if obj is _MISSING:
        return None
    domain = env.get_domain("py")
    named = getattr(obj, "fget", obj)  # a property: its getter carries the name
    home = getattr(named, "__module__", None)
    if isinstance(obj, type(importlib)):
        home, full = obj.__name__, obj.__name__
    elif home and hasattr(named, "__qualname__"):
        full = f"{home}.{named.__qualname__}"
    else:  # a constant: the documented name of the same object
        last = target.rsplit(".", 1)[-1]
        found = [n for n in domain.objects if n.endswith(f".{last}") and _python_object(n) is obj]
        full = found[0] if len(found) == 1 else None
        home = full
    if home is not None and not home.startswith("stracker"):
        return contnode  # another project's: no inventory to link to
    if full is None or full not in domain.objects:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], full, node, contnode)


def dataclass_factories(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: Any) -> Any:
    """A dataclass field's ``default_factory`` in the signature as the call it is (``dict()``), not ``<factory>``,
    which no signature parser reads."""
    if what != "class" or not signature or not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        if f.init and f.default_factory is not dataclasses.MISSING:
            signature = signature.replace("<factory>", f"{getattr(f.default_factory, '__name__', 'factory')}()", 1)
    return signature, ret


def setup(app: Any) -> None:
    app.connect("missing-reference", resolve_python_name)
    app.connect("autodoc-process-signature", dataclass_factories)
