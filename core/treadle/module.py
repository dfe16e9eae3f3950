"""``treadle.Module``: a ``torch.nn.Module`` with Lightning's ``LightningModule`` API.

A subclass takes part in the run as the highest-priority plugin below callbacks: every hook
method it overrides (``backward``, ``optimizer_step``, ``on_train_batch_end``, ...) becomes an
implementation of that hook; the stubs defined here take no part unless overridden.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch import nn

from treadle import _metrics
from treadle._metrics import is_metric as _is_metric
from treadle.errors import ConfigurationError
from treadle.hookspecs import HOOKS
from treadle.utilities import as_tensor, move_data_to_device, takes_dataloader_iter


class Module(nn.Module):
    """Base class for user code, as ``lightning.LightningModule``."""

    # Lightning's checkpoint keys of the hyper-parameters (``checkpoint[cls.CHECKPOINT_...]``).
    CHECKPOINT_HYPER_PARAMS_KEY = "hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "hparams_name"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization: bool = True
        self._trainer = None
        # ``trainer.fit(torch.compile(module))``: the compiled methods and the originals
        # (``treadle.utilities.from_compiled``); None when not compiled, as Lightning's
        self._compiler_ctx: dict[str, Any] | None = None

    # -- what the Trainer wires in ---------------------------------------------------------

    # True while ``torch.jit`` traces a module (``TensorBoardLogger.log_graph``): tracing reads
    # every attribute, and ``trainer`` must not raise then (Lightning's ``_jit_is_scripting``).
    _jit_is_scripting = False
    __jit_unused_properties__: list[str] = []  # filled below the class

    @property
    def trainer(self):
        if self._trainer is None and not Module._jit_is_scripting:
            raise RuntimeError(
                f"{type(self).__name__} is not attached to a `Trainer`; "
                f"call `trainer.fit(model)` first."
            )
        return self._trainer

    @trainer.setter
    def trainer(self, trainer) -> None:
        """Also the trainer of the Modules held directly inside this one (an ensemble's members),
        as Lightning's."""
        for child in self.children():
            if isinstance(child, Module):
                child.trainer = trainer
        self._trainer = trainer

    @property
    def device(self) -> torch.device:
        """The Trainer's device during a run; else the parameters' device; else, for a Module
        without parameters, where ``.to()``/``.cuda()``/``.cpu()`` last moved it (CPU before)."""
        if self._trainer is not None and self._trainer._root_device is not None:
            return self._trainer._root_device
        for p in self.parameters():
            return p.device
        return self.__dict__.get("_moved_device", torch.device("cpu"))

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """torch's ``_apply`` (behind ``to``, ``cuda``, ``cpu``, ``type``, ``half``, ``float``,
        ``double``, on this Module and on every Module nested in it, through plain
        ``nn.Module``s too), noting the device and floating dtype ``fn`` moves tensors to, as
        Lightning's device/dtype mixin does: ``device`` and ``dtype`` answer with them when the
        Module holds no (floating) parameter to read them from. ``fn`` runs once more, on an
        empty tensor of the dtype and device noted so far."""
        result = super()._apply(fn, *args, **kwargs)
        probe = fn(
            torch.empty(
                0,
                dtype=self.__dict__.get("_moved_dtype", torch.get_default_dtype()),
                device=self.__dict__.get("_moved_device", "cpu"),
            )
        )
        if isinstance(probe, torch.Tensor):
            self.__dict__["_moved_device"] = probe.device
            if probe.is_floating_point():
                self.__dict__["_moved_dtype"] = probe.dtype
        return result

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_rank(self) -> int:
        return self._trainer.global_rank if self._trainer is not None else 0

    @property
    def local_rank(self) -> int:
        return self._trainer.local_rank if self._trainer is not None else 0

    def optimizers(self, use_pl_optimizer: bool = True):
        """The optimizer(s) from ``configure_optimizers()``: one, or a list when several."""
        trainer = self._trainer or self.trainer  # the property raises when not attached
        step = trainer._step
        if use_pl_optimizer and step is not None:
            return step.handed_out
        opts = trainer.optimizers if not use_pl_optimizer else []
        return opts[0] if len(opts) == 1 else list(opts)

    def lr_schedulers(self):
        """The scheduler(s) from ``configure_optimizers()``: None, one, or a list."""
        step = self.trainer._step
        scheds = step.schedulers if step is not None else []
        if not scheds:
            return None
        return scheds[0] if len(scheds) == 1 else list(scheds)

    # -- the user's side of the loop -------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `training_step`.")

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def configure_model(self) -> None:
        """Build layers here instead of ``__init__`` (Lightning's hook): called by every entry
        point after ``setup`` and before ``configure_optimizers``, so a sharding strategy can
        take a model built on the meta device (``with torch.device("meta"): ...``) and
        materialise it sharded (``strategy="fsdp"``). Called again by each entry point: make
        it idempotent (``if self.net is not None: return``)."""

    def configure_optimizers(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `configure_optimizers`.")

    def manual_backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward through the run's hooks (scaling, the strategy's engine, your override).

        Extra arguments (``retain_graph=True``, ...) reach ``loss.backward`` in the core's
        default implementation as ``trainer.backward_kwargs``.
        """
        trainer = self._trainer or self.trainer
        if not (args or kwargs):  # the usual call: nothing to pass on to loss.backward
            step = trainer._step
            if step.bare_backward:  # only the core's backward (resolved once per run)
                step.kept_losses.append(loss)
                loss.backward()
                return
            step.backward(loss, None)
            return
        trainer.backward_args, trainer.backward_kwargs = args, kwargs
        try:
            trainer._step.backward(loss, None)
        finally:
            trainer.backward_args, trainer.backward_kwargs = (), {}

    def clip_gradients(
        self,
        optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters through the ``clip_gradients`` hook.

        Under ``16-mixed`` the gradients are unscaled first, in manual optimization too. As
        Lightning's: a value left out is the Trainer's (``gradient_clip_val``,
        ``gradient_clip_algorithm``), and one that contradicts the Trainer's is refused.
        """
        trainer = self.trainer
        cfg = trainer.config
        if gradient_clip_val is None:
            gradient_clip_val = cfg.gradient_clip_val or 0.0
        elif cfg.gradient_clip_val is not None and cfg.gradient_clip_val != gradient_clip_val:
            raise ConfigurationError(
                f"You have set `Trainer(gradient_clip_val={cfg.gradient_clip_val!r})` and have "
                f"passed `clip_gradients(gradient_clip_val={gradient_clip_val!r})`. Please use "
                f"only one of them. Remove it from the Trainer to choose it in the call (e.g. in "
                f"`configure_gradient_clipping`), or leave it out of the call."
            )
        if gradient_clip_algorithm is None:
            gradient_clip_algorithm = cfg.gradient_clip_algorithm or "norm"
        else:
            gradient_clip_algorithm = gradient_clip_algorithm.lower()
            given = cfg.gradient_clip_algorithm
            if given is not None and given != gradient_clip_algorithm:
                raise ConfigurationError(
                    f"You have set `Trainer(gradient_clip_algorithm={given!r})` and have passed "
                    f"`clip_gradients(gradient_clip_algorithm={gradient_clip_algorithm!r})`. "
                    f"Please use only one of them. Remove it from the Trainer to choose it in "
                    f"the call (e.g. in `configure_gradient_clipping`), or leave it out of the call."
                )
        if gradient_clip_algorithm not in ("norm", "value"):
            raise ValueError(
                f"`gradient_clip_algorithm={gradient_clip_algorithm!r}` is not "
                f"supported; use 'norm' or 'value'."
            )
        trainer._hooks.clip_gradients(
            trainer=trainer,
            module=self,
            optimizer=optimizer,
            gradient_clip_val=gradient_clip_val,
            gradient_clip_algorithm=gradient_clip_algorithm,
        )

    def toggle_optimizer(self, optimizer) -> None:
        """Only ``optimizer``'s parameters require grad until :meth:`untoggle_optimizer`."""
        optimizer = getattr(optimizer, "optimizer", optimizer)
        own = {id(p) for g in optimizer.param_groups for p in g["params"]}
        saved = self.__dict__.setdefault("_toggled_requires_grad", {})
        for other in self.trainer.optimizers:
            for group in other.param_groups:
                for p in group["params"]:
                    if id(p) not in own:
                        saved.setdefault(id(p), (p, p.requires_grad))
                        p.requires_grad = False

    def untoggle_optimizer(self, optimizer) -> None:
        saved = self.__dict__.pop("_toggled_requires_grad", {})
        for p, requires_grad in saved.values():
            p.requires_grad = requires_grad

    @contextlib.contextmanager
    def toggled_optimizer(self, optimizer) -> Iterator[None]:
        """:meth:`toggle_optimizer` for the ``with`` block, :meth:`untoggle_optimizer` after."""
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)

    # -- inference and export (Lightning's) ----------------------------------------------------

    @property
    def strict_loading(self) -> bool:
        """Whether loading a checkpoint needs every weight name to match (``load_state_dict``'s
        ``strict``); True unless set, e.g. False for a model that saves only its adapters."""
        return self.__dict__.get("_strict_loading") in (
            None,
            True,
        )  # None: the default, as Lightning

    @strict_loading.setter
    def strict_loading(self, value: bool | None) -> None:
        self.__dict__["_strict_loading"] = value

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the parameters; with none, the dtype ``.to()``, ``.half()``,
        ``.double()``, ``.type()``... last converted the Module to (the default dtype before)."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return self.__dict__.get("_moved_dtype", torch.get_default_dtype())

    @property
    def on_gpu(self) -> bool:
        """True when the module lives on a CUDA device."""
        return self.device.type == "cuda"

    def freeze(self):
        """No parameter requires grad, and eval mode; returns ``self``."""
        for p in self.parameters():
            p.requires_grad = False
        return self.eval()

    def unfreeze(self):
        """Every parameter requires grad, and train mode; returns ``self``."""
        for p in self.parameters():
            p.requires_grad = True
        return self.train()

    def _export_input(self, given: Any, fn: str, arg: str) -> Any:
        sample = self.example_input_array if given is None else given
        if sample is None:
            lightning = {  # Lightning's words first
                "to_torchscript": "Choosing method=`trace` requires either `example_inputs` or "
                "`model.example_input_array` to be defined. ",
                "to_onnx": "Could not export to ONNX since neither `input_sample` nor "
                "`model.example_input_array` attribute is set. ",
            }.get(fn, "")
            raise ValueError(
                f"{lightning}`{type(self).__name__}.{fn}()` needs an input to trace: pass "
                f"`{arg}=` or set `self.example_input_array` in `__init__`."
            )
        return move_data_to_device(sample, self.device)

    @torch.no_grad()
    def to_onnx(self, file_path: Any = None, input_sample: Any = None, **kwargs: Any) -> Any:
        """Export to ONNX with ``torch.onnx.export`` (needs the ``onnx`` package); the input is
        ``input_sample`` or ``example_input_array``; ``kwargs`` go to the exporter. As
        Lightning's, the packages are checked first, then the input."""
        name = type(self).__name__
        if not _importable("onnx"):  # Lightning's words, then the fix
            raise ModuleNotFoundError(
                f"`{name}.to_onnx()` requires `onnx` to be installed. Install it with "
                f"`pip install onnx` (and `onnxscript` for `dynamo=True`)."
            )
        if kwargs.get("dynamo", False) and not _importable("onnxscript"):
            raise ModuleNotFoundError(
                f"`{name}.to_onnx(dynamo=True)` requires `onnxscript` and `torch>=2.5.0` to be "
                f"installed. Install it with `pip install onnxscript`, or export with "
                f"`dynamo=False`."
            )
        sample = self._export_input(input_sample, "to_onnx", "input_sample")
        mode = self.training
        path = (
            str(file_path)
            if file_path is not None and not hasattr(file_path, "write")
            else file_path
        )
        try:
            return torch.onnx.export(self, sample, path, **kwargs)
        finally:
            self.train(mode)

    @torch.no_grad()
    def to_torchscript(
        self,
        file_path: Any = None,
        method: str | None = "script",
        example_inputs: Any = None,
        **kwargs: Any,
    ) -> Any:
        """This module compiled by ``torch.jit.script`` (``method="script"``) or traced by
        ``torch.jit.trace`` (``method="trace"``, on ``example_inputs`` or
        ``example_input_array``), in eval mode; saved to ``file_path`` when given."""
        if method not in ("script", "trace"):
            raise ValueError(  # Lightning's words, then the fix
                f"The 'method' parameter only supports 'script' or 'trace', but value given was: "
                f"{method} (`{type(self).__name__}.to_torchscript(method={method!r})`: pass "
                f"method='script' or method='trace')."
            )
        mode = self.training
        Module._jit_is_scripting = True  # ``self.trainer`` must not raise while compiling
        try:
            if method == "script":
                compiled = torch.jit.script(self.eval(), **kwargs)
            else:
                sample = self._export_input(example_inputs, "to_torchscript", "example_inputs")
                compiled = torch.jit.trace(func=self.eval(), example_inputs=sample, **kwargs)
        finally:
            Module._jit_is_scripting = False
            self.train(mode)
        if file_path is not None:  # as Lightning: through fsspec, so any filesystem's URL works
            from fsspec.core import url_to_fs  # type: ignore[import-untyped]  # (torch needs it)

            fs = url_to_fs(str(file_path))[0]
            with fs.open(str(file_path), "wb") as f:
                torch.jit.save(compiled, f)
        return compiled

    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        metric_attribute: str | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Record a metric, as ``LightningModule.log`` (same signature, defaults per hook).

        ``value``: a number, a one-element tensor or a ``torchmetrics.Metric`` (its batch value
        per step, ``compute()`` per epoch, then ``reset()``). ``reduce_fx``: ``"mean"``
        (weighted by ``batch_size``, found in the batch when not given), ``"sum"``, ``"max"``,
        ``"min"`` or ``torch.mean``/``torch.sum``/``torch.max``/``torch.min``.
        ``metric_attribute`` is accepted for compatibility and unused. Not attached to a
        ``Trainer``: a warning, nothing is recorded (so ``*_step`` methods can be unit-tested).
        """
        trainer = self._trainer
        if trainer is None:
            warnings.warn(  # Lightning's wording, then what was not done
                f"You are trying to `self.log()` but the `self.trainer` reference is not "
                f"registered on the model yet. This is most likely because the model hasn't "
                f"been passed to the `Trainer` (`self.log({name!r}, ...)` in "
                f"{type(self).__name__}: nothing was logged).",
                stacklevel=2,
            )
            return
        if trainer.config.barebones:
            warnings.warn(  # Lightning's wording, then what was not done
                "You are trying to `self.log()` but `Trainer(barebones=True)` is configured. "
                "Logging can impact raw speed so it is disabled under this setting "
                f"(`self.log({name!r}, ...)` in {type(self).__name__}: nothing was logged).",
                stacklevel=2,
            )
            return
        if batch_size is None and trainer.training and takes_dataloader_iter(self.training_step):
            raise ConfigurationError(  # (cached per step function: no cost per call)
                "With `def training_step(self, dataloader_iter)`, `self.log(..., batch_size=...)` "
                f"should be provided: the batch is fetched by the step, so its size is not known "
                f"(`self.log({name!r}, ...)` in {type(self).__name__}; pass `batch_size=`)."
            )
        if metric_attribute is None and _is_metric(value):
            self._check_metric_attribute(name, value)
        if logger and not trainer.loggers:
            warnings.warn(  # (logger=True given: the default None says nothing)
                f"You called `self.log({name!r}, ..., logger=True)` but have no logger "
                f"configured. You can enable one by doing `Trainer(logger=ALogger(...))` "
                f"(`Trainer(logger=True)` for the default one), or drop `logger=True`.",
                stacklevel=2,
            )
        caller = sys._getframe(1)
        if caller.f_code.co_name == "log_dict" and caller.f_back is not None:
            caller = caller.f_back
        # the hook logging (Lightning's `_current_fx_name`), else the function calling
        fx = _metrics.logging_hook(caller) or trainer._metrics.hook or caller.f_code.co_name
        trainer._metrics.log(
            name,
            value,
            fx=fx,
            prog_bar=prog_bar,
            logger=True if logger is None else logger,
            on_step=on_step,
            on_epoch=on_epoch,
            reduce_fx=reduce_fx,
            sync_dist=sync_dist,
            batch_size=batch_size,
            add_dataloader_idx=add_dataloader_idx,
            enable_graph=enable_graph,
            sync_dist_group=sync_dist_group,
            rank_zero_only=rank_zero_only,
        )

    def _check_metric_attribute(self, name: str, metric: Any) -> None:
        """As Lightning: a logged ``torchmetrics.Metric`` must be an attribute of the Module
        (its state is saved, moved and reset with it)."""
        found = self.__dict__.get("_treadle_metric_attributes")
        if found is None or id(metric) not in found:
            tm = sys.modules["torchmetrics"]
            found = {
                id(module): attr
                for attr, module in self.named_modules()
                if isinstance(module, tm.Metric)
            }
            self.__dict__["_treadle_metric_attributes"] = found
        if not found:
            raise ConfigurationError(
                "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` "
                f"logged as {name!r}. You can fix this by setting an attribute for the metric in "
                "your `LightningModule` (e.g. `self.acc = Accuracy(...)` in `__init__`)."
            )
        if id(metric) not in found:
            raise ConfigurationError(
                "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` "
                f"logged. You can fix this by calling `self.log({name}, ..., "
                f"metric_attribute=name)` where `name` is one of {list(found.values())}"
            )

    def log_dict(
        self,
        dictionary: Any,
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """``self.log`` for each item of a mapping or a ``torchmetrics.MetricCollection``."""
        tm = sys.modules.get("torchmetrics")
        if tm is not None and isinstance(dictionary, tm.MetricCollection):
            # as Lightning: states copied out of the collection unless compute groups share them
            groups = bool(getattr(dictionary, "_enable_compute_groups", False))
            items = dictionary.items(keep_base=False, copy_state=not groups)
        else:
            items = dictionary.items()
        for name, value in items:
            self.log(
                name,
                value,
                prog_bar=prog_bar,
                logger=logger,
                on_step=on_step,
                on_epoch=on_epoch,
                reduce_fx=reduce_fx,
                enable_graph=enable_graph,
                sync_dist=sync_dist,
                sync_dist_group=sync_dist_group,
                add_dataloader_idx=add_dataloader_idx,
                batch_size=batch_size,
                rank_zero_only=rank_zero_only,
            )

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._trainer is None or self._trainer.is_global_zero:
            print(*args, **kwargs)

    def all_gather(self, data: Any, group: Any = None, sync_grads: bool = False) -> Any:
        """Every rank's tensors, as Lightning's ``LightningModule.all_gather``: ``data`` is a
        tensor, a number, a numpy array or a (nested) list, tuple or dict of them. Each is made a
        tensor on ``self.device`` first, as Lightning does (a bool as ``uint8``, an int as
        ``int32``, a float as ``float32``), then becomes a tensor of shape ``(world_size, ...)``;
        in one process no dimension is added. ``sync_grads=True`` lets gradients flow back
        through the gather to every rank's tensor; ``group`` gathers over a process group of
        ``torch.distributed`` (every rank by default)."""
        trainer = self.trainer
        device = self.device

        def gather_one(tensor: torch.Tensor) -> torch.Tensor:
            if trainer.world_size == 1:
                return tensor
            if group is None and not sync_grads:
                return trainer.all_gather(tensor)
            import torch.distributed as dist
            from torch.distributed.nn.functional import all_gather

            with contextlib.nullcontext() if sync_grads else torch.no_grad():
                gathered = all_gather(tensor.contiguous(), group or dist.group.WORLD)
            return torch.stack(gathered)

        def gather(x: Any) -> Any:
            x = as_tensor(x, device)
            if isinstance(x, torch.Tensor):
                return gather_one(x)
            if isinstance(x, dict):
                return type(x)({k: gather(v) for k, v in x.items()})
            if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
                return type(x)(*(gather(v) for v in x))
            if isinstance(x, (list, tuple)):
                return type(x)(gather(v) for v in x)
            return x

        return gather(data)

    # True: ``prepare_data`` runs on local rank 0 of every node; False: on global rank 0 only.
    prepare_data_per_node: bool = True

    def prepare_data(self) -> None:
        """Download and prepare data, once per node (see ``treadle.DataModule``); called
        before ``setup``, after the DataModule's own ``prepare_data``."""

    def train_dataloader(self) -> Any:
        return None

    def val_dataloader(self) -> Any:
        return None

    # -- hook stubs: override to take part (signatures as in Lightning) --------------------

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        loss.backward(*args, **kwargs)

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        optimizer.step(closure=optimizer_closure)

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer) -> None:
        optimizer.zero_grad()

    def configure_gradient_clipping(
        self,
        optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        self.clip_gradients(
            optimizer,
            gradient_clip_val=gradient_clip_val,
            gradient_clip_algorithm=gradient_clip_algorithm,
        )

    def lr_scheduler_step(self, scheduler, metric: Any) -> None:
        scheduler.step() if metric is None else scheduler.step(metric)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        return move_data_to_device(batch, device)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return batch

    def configure_callbacks(self):
        """Callbacks to add for this fit; one of a type the Trainer has replaces it."""
        return []

    def setup(self, stage: str) -> None: ...
    def teardown(self, stage: str) -> None: ...
    def on_fit_start(self) -> None: ...
    def on_fit_end(self) -> None: ...
    def on_train_start(self) -> None: ...
    def on_train_end(self) -> None: ...
    def on_train_epoch_start(self) -> None: ...
    def on_train_epoch_end(self) -> None: ...
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None: ...
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_validation_start(self) -> None: ...
    def on_validation_end(self) -> None: ...
    def on_validation_epoch_start(self) -> None: ...
    def on_validation_epoch_end(self) -> None: ...
    def on_validation_batch_start(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_before_backward(self, loss: torch.Tensor) -> None: ...
    def on_after_backward(self) -> None: ...
    def on_before_optimizer_step(self, optimizer) -> None: ...
    def on_before_zero_grad(self, optimizer) -> None: ...
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    # -- hyper-parameters, loading, loggers (Lightning's names and meanings) ---------------

    def save_hyperparameters(
        self, *args: Any, ignore: Any = None, frame: Any = None, logger: bool = True
    ) -> None:
        """Record ``__init__``'s arguments in :attr:`hparams` (and in every checkpoint).

        No ``args``: every argument of the ``__init__`` methods running for this object (a
        subclass's included). Argument names: only those. One dict or ``Namespace``: its
        items. ``ignore``: names to leave out. ``logger=False``: not sent to the loggers.

        Checkpoints load with ``weights_only=True``, so values must be None, bool, int, float,
        str, bytes, tensors, ``torch.Size``/``dtype``/``device`` or plain lists, tuples and
        dicts of them; anything else (an ``nn.Module``, a dataclass, an enum) is a
        ``TypeError`` naming the argument: leave it out with ``ignore=[...]``.
        """
        import inspect

        from treadle import _hparams

        if frame is None:
            frame = inspect.currentframe().f_back  # type: ignore[union-attr]  # CPython has frames
        _hparams.save_hyperparameters(self, args, ignore, frame, logger)

    @property
    def hparams(self):
        """The saved hyper-parameters, changeable; ``hparams.lr`` is ``hparams["lr"]``."""
        from treadle import _hparams

        return _hparams.hparams_of(self)

    @property
    def hparams_initial(self):
        """A copy of the hyper-parameters as :meth:`save_hyperparameters` recorded them."""
        from treadle import _hparams

        return _hparams.hparams_initial_of(self)

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ):
        """A new ``cls`` built from a checkpoint's hyper-parameters, with its weights.

        ``weights_only`` is accepted as in Lightning 2.6 and changes nothing (the file is always
        read with ``weights_only=True``; it is not a hyper-parameter override).

        The file is read with ``torch.load(weights_only=True)``. ``kwargs`` override saved
        hyper-parameters (and supply ``__init__`` arguments that were ignored when saving);
        ``hparams_file`` (a YAML file, e.g. a logger's ``hparams.yaml``) replaces them;
        ``strict`` as in ``load_state_dict`` (default: the model's ``strict_loading``, True; a
        ``strict`` that contradicts a ``strict_loading`` set in ``__init__`` is a ValueError, as
        in Lightning; an empty ``state_dict`` loads with a warning); ``map_location`` as in
        ``torch.load``, by default where the tensors were saved (the CPU if that device is
        absent). The module is returned on the device of its loaded weights.
        """
        from treadle import _hparams

        return _hparams.load_from_checkpoint(
            cls,
            checkpoint_path,
            map_location=map_location,
            hparams_file=hparams_file,
            strict=strict,
            **kwargs,
        )

    @property
    def example_input_array(self) -> Any:
        """An input for ``forward`` (a tensor, or a tuple of positional arguments): used by
        ``TensorBoardLogger(log_graph=True)`` to draw the graph."""
        return self.__dict__.get("_example_input_array")

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self.__dict__["_example_input_array"] = example

    @property
    def logger(self):
        """The Trainer's first logger, or None."""
        return self._trainer.logger if self._trainer is not None else None

    @property
    def loggers(self) -> list:
        """The Trainer's loggers (``[]`` when none or not attached)."""
        return list(self._trainer.loggers) if self._trainer is not None else []

    # -- test() and predict() (Lightning's signatures) -------------------------------------

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """One test batch: ``test_step(self, batch, batch_idx)`` (``dataloader_idx`` too when
        ``test()`` gets several loaders). Log metrics with ``self.log``."""
        return None

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """One prediction batch; the default returns ``self(batch)``, as Lightning's."""
        batch = args[0] if args else kwargs["batch"]
        return self(batch)

    def test_dataloader(self) -> Any:
        return None

    def predict_dataloader(self) -> Any:
        return None

    def on_validation_model_eval(self) -> None:
        _run_model(self).eval()  # Lightning's: `self.trainer.model.eval()`

    def on_validation_model_zero_grad(self) -> None:
        self.zero_grad()  # Lightning's default: release the gradients before validating

    def on_validation_model_train(self) -> None:
        _run_model(self).train()  # Lightning's: `self.trainer.model.train()`

    def on_test_model_eval(self) -> None:
        _run_model(self).eval()  # Lightning's: `self.trainer.model.eval()`

    def on_test_model_train(self) -> None:
        _run_model(self).train()  # Lightning's: `self.trainer.model.train()`

    def on_predict_model_eval(self) -> None:
        _run_model(self).eval()  # Lightning's: `self.trainer.model.eval()`

    def on_test_start(self) -> None: ...
    def on_test_end(self) -> None: ...
    def on_test_epoch_start(self) -> None: ...
    def on_test_epoch_end(self) -> None: ...
    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_test_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_predict_start(self) -> None: ...
    def on_predict_end(self) -> None: ...
    def on_predict_epoch_start(self) -> None: ...
    def on_predict_epoch_end(self) -> None: ...
    def on_predict_batch_start(
        self, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_predict_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_exception(self, exception: BaseException) -> None: ...


# Hooks a Module may implement by overriding a method (Lightning's name: ``lr_scheduler_step``
# implements ``scheduler_step``); the table in treadle.hookspecs says which.
# ``torch.jit.script`` (``to_torchscript``) compiles every property it finds unless listed here;
# the Trainer-facing ones are plain Python (as Lightning's ``__jit_unused_properties__``).
Module.__jit_unused_properties__ = sorted(
    name for name, value in vars(Module).items() if isinstance(value, property)
)

MODULE_HOOKS = frozenset(name for name, info in HOOKS.items() if info.module_method is not None)


def _importable(package: str) -> bool:
    try:
        importlib.import_module(package)
    except ImportError:
        return False
    return True


def _run_model(module: Any) -> Any:
    """``module.trainer.model`` (the strategy's wrapper, as Lightning's mode hooks use) when
    the Module is attached to a Trainer, else the Module."""
    trainer = getattr(module, "_trainer", None)
    model = getattr(trainer, "model", None) if trainer is not None else None
    return model if isinstance(model, torch.nn.Module) else module
