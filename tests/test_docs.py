"""The API reference (docs/) builds with Sphinx, warnings as errors, and documents the whole public API.

``make test`` installs the ``docs`` extra (sphinx, numpydoc), and ``.ci/run`` sets ``STRACKER_REQUIRE_DOCS=1``:
there a missing Sphinx is a failure, not a skip.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import stracker

DOCS = Path(__file__).resolve().parents[1] / "docs"

try:
    import numpydoc  # noqa: F401
    import sphinx  # noqa: F401

    NO_SPHINX = None
except ImportError as exc:
    NO_SPHINX = f"sphinx or numpydoc is not installed ({exc}); pip install -e '.[docs]'"

pytestmark = pytest.mark.skipif(
    NO_SPHINX is not None and not os.environ.get("STRACKER_REQUIRE_DOCS"), reason=str(NO_SPHINX)
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The HTML reference, built once by ``sphinx-build -W`` (as ``make docs`` does) in a fresh folder."""
    out = tmp_path_factory.mktemp("docs")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    result = subprocess.run(
        [*command, "-d", str(out / "doctrees"), str(DOCS), str(out / "html")], capture_output=True, text=True
    )
    assert result.returncode == 0, f"sphinx-build -W failed:\n{result.stderr[-6000:]}"
    return out / "html"


def inventory(html: Path) -> dict[str, str]:
    """The documented Python objects of a build (its objects.inv): full name -> role (py:function, ...)."""
    lines = (html / "objects.inv").read_bytes().split(b"\n", 4)
    assert lines[0].startswith(b"# Sphinx inventory version 2")
    entries = {}
    for line in zlib.decompress(lines[4]).decode().splitlines():
        name, role = line.split(" ", 2)[:2]
        if role.startswith("py:"):
            entries[name] = role
    return entries


def public_modules() -> list[str]:
    """Every module of the package but the command line (documented by ``stracker --help``)."""
    names = [m.name for m in pkgutil.walk_packages(stracker.__path__, "stracker.")]
    return ["stracker", *(n for n in names if not n.startswith("stracker.cli"))]


def test_docs_build_with_warnings_as_errors(built):
    assert (built / "index.html").is_file()
    for page in ("contracts", "files", "simulation", "platforms", "consensus", "after"):
        assert (built / "api" / f"{page}.html").stat().st_size > 1000
    # the top-level API links to where each name is defined (re-exports resolved, see docs/conf.py)
    index = (built / "index.html").read_text()
    assert 'href="api/consensus.html#stracker.consensus.aggregate.aggregate"' in index
    assert 'href="api/simulation.html#stracker.simulation.simulate"' in index


def test_every_public_module_and_name_is_documented(built):
    documented = inventory(built)
    modules = public_modules()
    assert [m for m in modules if documented.get(m) != "py:module"] == []
    missing = []
    for name in modules:
        module = importlib.import_module(name)
        for public in module.__all__:
            obj = getattr(module, public)
            if hasattr(obj, "__qualname__") and getattr(obj, "__module__", "").startswith("stracker"):
                full = f"{obj.__module__}.{obj.__qualname__}"  # where it is defined, re-exported or not
                if full not in documented:
                    missing.append(full)
            elif not any(
                n.endswith(f".{public}") and getattr(importlib.import_module(n.rsplit(".", 1)[0]), public) is obj
                for n in documented
                if n.rsplit(".", 1)[0] in modules
            ):
                missing.append(f"{name}.{public}")  # a constant: documented once, in the module defining it
    assert missing == [], "public names without a docstring (or not on an API page of docs/api)"
