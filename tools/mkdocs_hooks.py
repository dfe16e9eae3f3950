"""mkdocs hooks (mkdocs.yml ``hooks:``): the API reference renders as the rest of the docs.

The docstrings are written for editors and Sphinx (``:class:`treadle.Trainer```); mkdocstrings
renders such a role as the role's name followed by code. Each page's HTML keeps the code and
drops the role's name, as tools/gen_hook_reference.py does for the hook reference.
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj|py:\w+):(<code>)")


def on_page_content(html: str, **_: object) -> str:
    return ROLE.sub(r"\1", html)
