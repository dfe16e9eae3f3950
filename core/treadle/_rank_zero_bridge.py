"""``lightning_utilities``' ``rank_zero_only.rank``, set as Lightning sets it.

``lightning_utilities.core.rank_zero.rank_zero_only`` (used by Lightning programs and templates
directly: lightning-hydra-template's ``RankedLogger`` and ``log_hyperparameters``) raises
"The `rank_zero_only.rank` needs to be set before use" until someone sets the attribute.
Lightning sets it when it is imported (the launcher's ``RANK``/``LOCAL_RANK``/``SLURM_PROCID``/
``JSM_NAMESPACE_RANK``, else 0) and again to the strategy's global rank when a distributed
strategy sets up. treadle does the same: :func:`install` (called by ``import treadle``) sets it
on the module if it is loaded already, else as soon as it is imported (a meta-path finder, so
``import treadle`` does not import ``lightning_utilities``, which is not a dependency);
:func:`set_rank` is the strategies' call. A rank set before (by torchmetrics, say) is kept, as
Lightning keeps it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_MODULE = "lightning_utilities.core.rank_zero"


def _launcher_rank() -> int:
    from treadle.loggers import global_rank

    return global_rank()


def _set_default(module: ModuleType) -> None:
    fn = getattr(module, "rank_zero_only", None)
    if fn is not None and getattr(fn, "rank", None) is None:
        fn.rank = _launcher_rank()


def set_rank(rank: int) -> None:
    """Set ``lightning_utilities``' ``rank_zero_only.rank`` to ``rank`` where it is loaded (a
    distributed strategy's global rank once its processes are known, as Lightning's), and
    treadle's ``rank_zero_only.rank``."""
    from treadle.loggers import rank_zero_only

    rank_zero_only.rank = rank
    module = sys.modules.get(_MODULE)
    fn = getattr(module, "rank_zero_only", None)
    if fn is not None:
        fn.rank = rank


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the rank set on what it made."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _set_default(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    """Set the rank now if ``lightning_utilities`` is loaded, else when it is imported."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        _set_default(module)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
