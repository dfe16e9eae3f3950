"""The docs build as a site (mkdocs-material, mkdocs.yml) with warnings as errors.

The ``[docs]`` extra installs mkdocs; CI installs it (``.ci/run``). The build is strict: a broken
link between pages, a missing anchor, or an API entry mkdocstrings cannot collect fails it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strict_with_the_api_and_hook_references(tmp_path):
    assert importlib.util.find_spec("mkdocs") is not None, (
        "mkdocs is not installed: install the docs extra (pip install -e '.[docs]')"
    )
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every page of docs/ is a page of the site, reachable from the navigation.
    pages = sorted(p.stem for p in (ROOT / "docs").glob("*.md") if p.stem != "index")
    nav = (site / "index.html").read_text()
    for page in pages:
        assert (site / page / "index.html").is_file(), page
        assert f'href="{page}/"' in nav, f"{page}.md is not in mkdocs.yml's nav"
    # The API reference is generated from the docstrings, as rendered Markdown.
    api = (site / "api" / "index.html").read_text()
    for anchor in (
        "treadle.Module",
        "treadle.trainer.Trainer",
        "treadle.testing",
        "treadle_sam.SAM",
    ):
        assert f'id="{anchor}"' in api, anchor
    assert "A named thing a plugin can make for a run." in api  # treadle.Provider's docstring
    # No Sphinx role is left in what a reader sees, in the API or the hook reference.
    for page in ("api", "hook-reference"):
        html = (site / page / "index.html").read_text()
        assert not re.findall(r":(?:class|func|meth|attr|mod|exc|data|obj):", html), page
        assert not re.findall(r":(?:param \w+|returns?):", html), page  # fields: parsed
    assert (site / "search" / "search_index.json").is_file()
