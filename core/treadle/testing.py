"""treadle's kit for testing plugins: a pytest plugin and the helpers behind its fixtures.

pytest loads it by itself once treadle is installed (entry point ``treadle.testing`` in group
``pytest11``); elsewhere, ``pytest -p treadle.testing`` or ``pytest_plugins = ["treadle.testing"]``
in a top-level ``conftest.py``. Documented in docs/plugins.md ("Testing a plugin").

Fixtures:

* ``treadle_fit``: ``treadle_fit(plugins=[...], callbacks=[...], model=..., **trainer_kwargs)``
  runs a tiny quiet ``fit()`` on the CPU (:class:`TinyModule`, :func:`tiny_loader`) and returns
  a :class:`FitRun`: the trainer, the model and every hook call of the run, in order.
* ``treadle_trainer``: ``treadle_trainer(**kwargs)``, the quiet CPU ``Trainer`` that
  ``treadle_fit`` uses, writing under the test's ``tmp_path``.
* ``treadle_install``: ``treadle_install(name, entry_points, modules=...)`` writes a
  distribution as pip leaves it (a ``*.dist-info`` with ``entry_points.txt``) on ``sys.path``,
  so ``importlib.metadata`` and every new ``Trainer`` find its entry points; removed after the
  test, with the modules it imported and importlib's caches.

Every fixture clears the ``TREADLE_*`` variables that change which plugins load
(``TREADLE_DISABLE_PLUGIN_AUTOLOAD``, ``TREADLE_BLOCK_PLUGINS``) or what a run prints
(``TREADLE_TRACE_HOOKS``) for the test's duration.

Hook calls are recorded through the public tracing of the plugin manager
(``trainer.plugin_manager.enable_tracing``), which wraps the callers the run uses: a recorded
run takes the path an unrecorded one takes.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import treadle

__all__ = [
    "ENV_VARS",
    "Distributions",
    "FitRun",
    "HookCall",
    "HookRecorder",
    "TinyModule",
    "quiet_trainer",
    "record_hooks",
    "plugin_name",
    "run_fit",
    "tiny_loader",
    "write_distribution",
]

# The variables that change which plugins a Trainer loads, or what it prints, from outside.
ENV_VARS = ("TREADLE_DISABLE_PLUGIN_AUTOLOAD", "TREADLE_BLOCK_PLUGINS", "TREADLE_TRACE_HOOKS")

TINY_IN = 4  # TinyModule's input features


# -- recording hook calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class HookCall:
    """One hook call: its name, its nesting (``optimizer_step`` runs the step's hooks inside it:
    depth 1) and the plugins implementing it, in the order they ran."""

    name: str
    depth: int
    implementations: tuple[str, ...]


class HookRecorder:
    """Every hook call of a trainer's runs, in call order (:func:`record_hooks` attaches one)."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def _write(self, line: str) -> None:
        # The tracer's line: "  treadle hook NAME -> [impl, impl]" (two spaces a nesting level).
        stripped = line.lstrip(" ")
        head, _, impls = stripped.removeprefix("treadle hook ").partition(" -> ")
        names = tuple(n for n in impls.strip("[]").split(", ") if n and n != "-")
        self.calls.append(HookCall(head, (len(line) - len(stripped)) // 2, names))

    def names(self) -> list[str]:
        """The names of the hooks called, in order."""
        return [call.name for call in self.calls]

    def count(self, name: str) -> int:
        """How many times hook ``name`` was called."""
        return sum(call.name == name for call in self.calls)

    def implemented_by(self, plugin: str) -> list[str]:
        """The names of the calls that ran an implementation of plugin ``plugin``, in order."""
        return [call.name for call in self.calls if plugin in call.implementations]

    def clear(self) -> None:
        self.calls.clear()


def record_hooks(trainer: Any) -> HookRecorder:
    """Record every hook call of ``trainer``'s next runs (``fit``, ``validate``, ...).

    Attach it before the run: the run resolves its callers when it starts. Replaces any tracing
    already on (``TREADLE_TRACE_HOOKS=1``) for this trainer.
    """
    recorder = HookRecorder()
    trainer.plugin_manager.enable_tracing(recorder._write)
    return recorder


# -- a tiny run ----------------------------------------------------------------------------------


class TinyModule(treadle.Module):
    """A linear regression 4 -> 1: MSE loss, SGD (lr 0.1), ``val_loss`` logged in validation."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(TINY_IN, 1)
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def tiny_loader(n_batches: int = 2, batch_size: int = 4, seed: int = 0) -> DataLoader:
    """``n_batches`` batches of a noisy linear target for :class:`TinyModule` (no shuffling)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_batches * batch_size, TINY_IN, generator=g)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(len(x), 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


QUIET = dict(
    accelerator="cpu",
    logger=False,
    enable_progress_bar=False,
    enable_checkpointing=False,
    enable_model_summary=False,
    max_epochs=1,
    num_sanity_val_steps=0,
)


def quiet_trainer(root_dir: str | Path, **kwargs: Any) -> Any:
    """A CPU ``Trainer`` that prints and writes nothing unless asked (``kwargs`` override:
    no logger, progress bar, checkpoints, model summary or sanity check; one epoch). A
    checkpoint callback in ``callbacks`` turns checkpointing on."""
    # a checkpoint callback given turns checkpointing on (off with one is refused, as Lightning)
    given = any(hasattr(c, "best_model_path") for c in _as_list(kwargs.get("callbacks")))
    quiet = {**QUIET, "enable_checkpointing": given}
    return treadle.Trainer(**{**quiet, "default_root_dir": str(root_dir), **kwargs})


def _as_list(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


@dataclass
class FitRun:
    """What :func:`run_fit` ran: the trainer, the model and the hook calls, in order."""

    trainer: Any
    model: Any
    hooks: HookRecorder = field(repr=False)

    def name_of(self, plugin: Any) -> str:
        """The name the run gave ``plugin`` (an object of ``plugins=`` or ``callbacks=``)."""
        return plugin_name(self.trainer, plugin)


def plugin_name(trainer: Any, plugin: Any) -> str:
    """The plugin manager's name for ``plugin``, an object given to ``trainer`` in ``plugins=``
    or ``callbacks=`` (a ``treadle.Callback`` is registered through an adapter, under the name
    ``callback:<class>:<id>``), as :class:`HookCall` lists its implementations."""
    pm = trainer.plugin_manager
    name = pm.get_name(plugin)
    if name is None:
        name = f"callback:{type(plugin).__name__}:{id(plugin):x}"
        if pm.get_plugin(name) is None:
            raise ValueError(f"{plugin!r} is not a plugin or callback of this trainer")
    return name


def run_fit(
    root_dir: str | Path,
    *,
    plugins: Sequence[Any] = (),
    callbacks: Sequence[Any] = (),
    model: Any = None,
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    **trainer_kwargs: Any,
) -> FitRun:
    """``fit()`` ``model`` (a :class:`TinyModule` by default) with ``plugins`` and ``callbacks``
    registered on a :func:`quiet_trainer`, recording every hook call.

    The data default to two training batches of :func:`tiny_loader` and no validation.
    """
    trainer = quiet_trainer(
        root_dir, plugins=list(plugins), callbacks=list(callbacks), **trainer_kwargs
    )
    hooks = record_hooks(trainer)
    model = TinyModule() if model is None else model
    train = tiny_loader() if train_dataloaders is None else train_dataloaders
    trainer.fit(model, train, val_dataloaders)
    return FitRun(trainer, model, hooks)


# -- installed distributions ---------------------------------------------------------------------


def write_distribution(
    root: str | Path,
    name: str,
    entry_points: Mapping[str, str],
    *,
    version: str = "0.1.0",
    modules: Mapping[str, str] | None = None,
    group: str = "treadle",
) -> Path:
    """Write distribution ``name`` into directory ``root`` as pip installs it; return ``root``.

    ``entry_points`` maps entry-point names to values (``module`` or ``module:attr``) in
    ``group``; ``modules`` maps module names (dotted for a package's module) to their source,
    dedented. ``root`` must be on ``sys.path`` for Python to see the distribution.
    """
    root = Path(root)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    for module, source in (modules or {}).items():
        *packages, last = module.split(".")
        folder = root.joinpath(*packages)
        folder.mkdir(parents=True, exist_ok=True)
        for depth in range(len(packages)):
            init = root.joinpath(*packages[: depth + 1], "__init__.py")
            if not init.exists():
                init.write_text("")
        (folder / f"{last}.py").write_text(textwrap.dedent(source))
    return root


class Distributions:
    """Distributions installed for one test (the ``treadle_install`` fixture); :meth:`remove`
    takes them all off ``sys.path`` again."""

    def __init__(self, base: str | Path) -> None:
        self.base = Path(base)
        self.roots: list[Path] = []

    def __call__(
        self,
        name: str,
        entry_points: Mapping[str, str],
        *,
        version: str = "0.1.0",
        modules: Mapping[str, str] | None = None,
        group: str = "treadle",
    ) -> Path:
        """Install ``name`` (arguments as :func:`write_distribution`) in a ``sys.path`` entry of
        its own, first on the path: a later installation is discovered before an earlier one.
        Returns that directory."""
        root = self.base / f"site-{len(self.roots)}-{name}"
        write_distribution(root, name, entry_points, version=version, modules=modules, group=group)
        self.roots.append(root)
        sys.path.insert(0, str(root))
        importlib.invalidate_caches()  # importlib.metadata caches what each path entry holds
        return root

    def remove(self) -> None:
        """Uninstall every distribution: off ``sys.path``, its imported modules out of
        ``sys.modules``, importlib's caches cleared, its files deleted."""
        for root in self.roots:
            entry = str(root)
            while entry in sys.path:
                sys.path.remove(entry)
            sys.path_importer_cache.pop(entry, None)
            for name, module in list(sys.modules.items()):
                origin = getattr(module, "__file__", None)
                if origin and Path(origin).is_relative_to(root):
                    del sys.modules[name]
        importlib.invalidate_caches()
        for root in self.roots:
            shutil.rmtree(root, ignore_errors=True)
        self.roots.clear()


# -- the pytest plugin ---------------------------------------------------------------------------


@pytest.fixture
def treadle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear :data:`ENV_VARS` for the test (the other fixtures use it)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def treadle_install(tmp_path: Path, treadle_env: None) -> Iterator[Distributions]:
    """``treadle_install(name, entry_points, version=..., modules=..., group=...)``: a
    distribution installed for this test (see :class:`Distributions`)."""
    installed = Distributions(tmp_path / "treadle-install")
    try:
        yield installed
    finally:
        installed.remove()


@pytest.fixture
def treadle_trainer(tmp_path: Path, treadle_env: None) -> Any:
    """``treadle_trainer(**kwargs)``: a :func:`quiet_trainer` writing under ``tmp_path``."""

    def make(**kwargs: Any) -> Any:
        return quiet_trainer(tmp_path, **kwargs)

    return make


@pytest.fixture
def treadle_fit(tmp_path: Path, treadle_env: None) -> Any:
    """``treadle_fit(plugins=[...], callbacks=[...], model=..., **trainer_kwargs)``: a
    :func:`run_fit` writing under ``tmp_path``; returns the :class:`FitRun`."""

    def fit(**kwargs: Any) -> FitRun:
        return run_fit(tmp_path, **kwargs)

    return fit
