"""``ModelPruning``: prune the Module's weights with ``torch.nn.utils.prune`` during training.

As Lightning 2's callback of the same name: at each training epoch's end (or, with
``prune_on_train_epoch_end=False``, each validation epoch's end outside the sanity check) the
chosen parameters lose ``amount`` of their entries, one tensor at a time or over all of them at
once (``use_global_unstructured``); the lottery ticket hypothesis then resets the surviving
entries to their values when the run was set up. While training, a pruned parameter is
torch's ``<name>_orig`` times ``<name>_mask``; checkpoints hold the product under the plain
name (``make_pruning_permanent``), so they load into an unpruned Module, and training ends
with the masks folded into the weights.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from copy import deepcopy
from functools import partial
from typing import Any, Callable, Union

import torch.nn.utils.prune as torch_prune
from torch import Tensor, nn

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.module import Module

log = logging.getLogger(__name__)

# name -> (the function for one tensor, the method class for global pruning)
_BUILT_IN: dict[str, tuple[Callable[..., Any], type[torch_prune.BasePruningMethod]]] = {
    "ln_structured": (torch_prune.ln_structured, torch_prune.LnStructured),
    "l1_unstructured": (torch_prune.l1_unstructured, torch_prune.L1Unstructured),
    "random_structured": (torch_prune.random_structured, torch_prune.RandomStructured),
    "random_unstructured": (torch_prune.random_unstructured, torch_prune.RandomUnstructured),
}
_CONTAINERS = (Module, nn.Sequential, nn.ModuleList, nn.ModuleDict)

ParamList = Sequence[tuple[nn.Module, str]]
Amount = Union[int, float, Callable[[int], Union[int, float]]]


class ModelPruning(Callback):
    """Prune parameters during training (as Lightning 2's ``ModelPruning``).

    :param pruning_fn: one of ``"ln_structured"``, ``"l1_unstructured"``,
        ``"random_structured"``, ``"random_unstructured"``, or a
        ``torch.nn.utils.prune.BasePruningMethod`` subclass (the class, with
        ``use_global_unstructured=True``).
    :param parameters_to_prune: ``(module, "weight")`` pairs; empty: every ``parameter_names``
        parameter of every leaf module.
    :param parameter_names: ``"weight"`` and/or ``"bias"`` (default both).
    :param use_global_unstructured: prune over all the parameters together (unstructured only).
    :param amount: a fraction (float), a count (int), or a function of the epoch giving either.
    :param apply_pruning: whether to prune, or a function of the epoch saying so.
    :param make_pruning_permanent: fold the masks into the weights when training ends, and
        save folded weights in checkpoints.
    :param use_lottery_ticket_hypothesis: after pruning, reset the kept entries to their
        values at setup (or a function of the epoch saying whether to).
    :param resample_parameters: with the lottery ticket, reset to fresh values instead
        (the layer's ``reset_parameters``).
    :param pruning_dim: the dimension, for structured pruning.
    :param pruning_norm: the norm, for ``"ln_structured"``.
    :param verbose: 0, 1 (log the overall sparsity) or 2 (and each parameter's).
    :param prune_on_train_epoch_end: prune at the training epoch's end (False: at the
        validation epoch's end).
    """

    PARAMETER_NAMES = ("weight", "bias")

    def __init__(
        self,
        pruning_fn: Callable | str,
        parameters_to_prune: ParamList = (),
        parameter_names: list[str] | None = None,
        use_global_unstructured: bool = True,
        amount: Amount = 0.5,
        apply_pruning: bool | Callable[[int], bool] = True,
        make_pruning_permanent: bool = True,
        use_lottery_ticket_hypothesis: bool | Callable[[int], bool] = True,
        resample_parameters: bool = False,
        pruning_dim: int | None = None,
        pruning_norm: int | None = None,
        verbose: int = 0,
        prune_on_train_epoch_end: bool = True,
    ) -> None:
        self._use_global_unstructured = use_global_unstructured
        self._parameters_to_prune = parameters_to_prune
        self._use_lottery_ticket_hypothesis = use_lottery_ticket_hypothesis
        self._resample_parameters = resample_parameters
        self._prune_on_train_epoch_end = prune_on_train_epoch_end
        self._parameter_names = parameter_names or self.PARAMETER_NAMES
        self._global_kwargs: dict[str, Any] = {}
        # id(module) -> (a copy of the module at setup, [(index in parameters_to_prune, name)])
        self._original_layers: dict[int, tuple[nn.Module, list[tuple[int, str]]]] | None = None
        self._pruning_method_name: str | None = None
        for name in self._parameter_names:
            if name not in self.PARAMETER_NAMES:
                raise ConfigurationError(
                    f"ModelPruning: The provided `parameter_names` name: {name} isn't in "
                    f"{self.PARAMETER_NAMES}"
                )
        if isinstance(pruning_fn, str):
            pruning_fn = self._built_in(pruning_fn.lower(), pruning_dim, pruning_norm)
        elif inspect.isclass(pruning_fn) and issubclass(pruning_fn, torch_prune.BasePruningMethod):
            if not use_global_unstructured:
                raise ConfigurationError(
                    "ModelPruning: PyTorch `BasePruningMethod` is currently only supported with "
                    "`use_global_unstructured=True`."
                )
        else:
            raise ConfigurationError(
                f"ModelPruning: `pruning_fn` is expected to be a str in {list(_BUILT_IN)} or a "
                f"PyTorch `BasePruningMethod`. Found: {pruning_fn}. HINT: if passing a "
                f"`BasePruningMethod`, pass the class, not an instance"
            )
        kind = getattr(pruning_fn, "PRUNING_TYPE", None)
        if use_global_unstructured and kind != "unstructured":
            raise ConfigurationError(
                f'ModelPruning: Only the "unstructured" PRUNING_TYPE is supported with '
                f"`use_global_unstructured=True`. Found method {pruning_fn} of type {kind}. "
                f"Pass use_global_unstructured=False to prune each tensor on its own."
            )
        self.pruning_fn: Any = pruning_fn  # a torch function, a partial of one, or a class
        self._apply_pruning = apply_pruning
        self._make_pruning_permanent = make_pruning_permanent
        if not (isinstance(amount, (int, float)) or callable(amount)):
            raise ConfigurationError(
                f"ModelPruning(amount={amount!r}): `amount` should be provided and be either an "
                f"int, a float or Callable function."
            )
        self.amount = amount
        if verbose not in (0, 1, 2):
            raise ConfigurationError(
                f"ModelPruning(verbose={verbose!r}): `verbose` must be any of (0, 1, 2)"
            )
        self._verbose = verbose

    def _built_in(self, name: str, dim: int | None, norm: int | None) -> Any:
        """The torch function (pruning each tensor) or method class (global) named ``name``."""
        if name not in _BUILT_IN:
            raise ConfigurationError(
                f"ModelPruning: The provided `pruning_fn` {name} isn't available in PyTorch's "
                f"built-in functions: {list(_BUILT_IN)} "
            )
        kwargs: dict[str, Any] = {}
        if name.endswith("_structured"):
            if dim is None:
                raise ConfigurationError(
                    "ModelPruning: When requesting `structured` pruning, the `pruning_dim` "
                    "should be provided."
                )
            if name == "ln_structured":
                if norm is None:
                    raise ConfigurationError(
                        "ModelPruning: When requesting `ln_structured` pruning, the "
                        "`pruning_norm` should be provided."
                    )
                kwargs["n"] = norm
            kwargs["dim"] = dim
        function, method = _BUILT_IN[name]
        chosen = method if self._use_global_unstructured else function
        self._pruning_method_name = chosen.__name__
        if self._use_global_unstructured:
            self._global_kwargs = kwargs
            return method
        return partial(function, **kwargs)

    def filter_parameters_to_prune(self, parameters_to_prune: ParamList = ()) -> ParamList:
        """Override to choose which of the parameters found in ``setup`` are pruned."""
        return parameters_to_prune

    # -- pruning -------------------------------------------------------------------------------

    def make_pruning_permanent(self, module: nn.Module) -> None:
        """Fold every pruning mask under ``module`` into its weights (torch's ``prune.remove``
        for each pruned parameter)."""
        for sub in module.modules():
            for key, hook in list(sub._forward_pre_hooks.items()):
                if isinstance(hook, torch_prune.BasePruningMethod):
                    hook.remove(sub)
                    del sub._forward_pre_hooks[key]

    def apply_lottery_ticket_hypothesis(self) -> None:
        """Reset the entries pruning kept to their values at setup (step 4 of Frankle & Carbin,
        2019), or to freshly sampled ones with ``resample_parameters``."""
        assert self._original_layers is not None
        for original, names in self._original_layers.values():
            source = original
            if self._resample_parameters and callable(getattr(original, "reset_parameters", None)):
                source = deepcopy(original)  # the original values stay for the next time
                source.reset_parameters()  # type: ignore[operator]
            for index, name in names:
                target, _ = self._parameters_to_prune[index]
                _copy_param(target, source, name)

    def apply_pruning(self, amount: int | float) -> None:
        """Prune ``parameters_to_prune`` by ``amount``."""
        before = (
            [_pruned_stats(m, n) for m, n in self._parameters_to_prune] if self._verbose else []
        )
        if self._use_global_unstructured:
            self._global_kwargs["amount"] = amount
            accepted = set(inspect.signature(self.pruning_fn).parameters) - {"self"}
            kwargs = {k: v for k, v in self._global_kwargs.items() if k in accepted}
            torch_prune.global_unstructured(
                self._parameters_to_prune, pruning_method=self.pruning_fn, **kwargs
            )
        else:
            for module, name in self._parameters_to_prune:
                self.pruning_fn(module, name=name, amount=amount)
        if self._verbose:
            after = [_pruned_stats(m, n) for m, n in self._parameters_to_prune]
            self._log_sparsity(before, after, amount)

    def _log_sparsity(
        self, before: list[tuple[int, int]], after: list[tuple[int, int]], amount: int | float
    ) -> None:
        total = sum(size for _, size in after)
        zeros_before = sum(zeros for zeros, _ in before)
        zeros_after = sum(zeros for zeros, _ in after)
        log.info(
            f"Applied `{self._pruning_method_name}`. Pruned: {zeros_before}/{total} "
            f"({zeros_before / total:.2%}) -> {zeros_after}/{total} ({zeros_after / total:.2%})"
        )
        if self._verbose == 2:
            for (module, name), (z0, n0), (z1, n1) in zip(self._parameters_to_prune, before, after):
                log.info(
                    f"Applied `{self._pruning_method_name}` to `{module!r}.{name}` with "
                    f"amount={amount}. Pruned: {z0} ({z0 / n0:.2%}) -> {z1} ({z1 / n1:.2%})"
                )

    def _run_pruning(self, epoch: int) -> None:
        prune = self._apply_pruning(epoch) if callable(self._apply_pruning) else self._apply_pruning
        amount = self.amount(epoch) if callable(self.amount) else self.amount
        if not prune or not amount:
            return
        self.apply_pruning(amount)
        lottery = self._use_lottery_ticket_hypothesis
        if lottery(epoch) if callable(lottery) else lottery:
            self.apply_lottery_ticket_hypothesis()

    # -- hooks ---------------------------------------------------------------------------------

    def setup(self, trainer, pl_module, stage: str) -> None:
        found = self.sanitize_parameters_to_prune(
            pl_module, self._parameters_to_prune, parameter_names=self._parameter_names
        )
        self._parameters_to_prune = self.filter_parameters_to_prune(found)
        if self._use_lottery_ticket_hypothesis:  # the values the kept entries return to
            self._original_layers = {}
            for index, (module, name) in enumerate(self._parameters_to_prune):
                entry = self._original_layers.setdefault(id(module), (deepcopy(module), []))
                entry[1].append((index, name))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._prune_on_train_epoch_end:
            self._run_pruning(trainer.current_epoch)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and not self._prune_on_train_epoch_end:
            self._run_pruning(trainer.current_epoch)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._make_pruning_permanent:
            self.make_pruning_permanent(pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        if self._make_pruning_permanent:  # the Module keeps its masks: training goes on
            checkpoint["state_dict"] = _folded_state_dict(pl_module)

    @staticmethod
    def sanitize_parameters_to_prune(
        pl_module: nn.Module,
        parameters_to_prune: ParamList = (),
        parameter_names: Sequence[str] = (),
    ) -> ParamList:
        """``parameters_to_prune`` checked against ``pl_module``; when empty, every
        ``parameter_names`` parameter of its leaf modules."""
        names = parameter_names or ModelPruning.PARAMETER_NAMES
        leaves = [m for m in pl_module.modules() if not isinstance(m, _CONTAINERS)]
        if not parameters_to_prune:
            return [
                (m, name)
                for name in names
                for m in leaves
                if isinstance(getattr(m, name, None), nn.Parameter)
            ]
        well_formed = isinstance(parameters_to_prune, (list, tuple)) and all(
            isinstance(p, (list, tuple))
            and len(p) == 2
            and isinstance(p[0], nn.Module)
            and isinstance(p[1], str)
            for p in parameters_to_prune
        )
        if not well_formed:
            raise ConfigurationError(
                "ModelPruning: The provided `parameters_to_prune` should either be list of tuple "
                "with 2 elements: (nn.Module, parameter_name_to_prune) or None"
            )
        missing_modules = [m for m, _ in parameters_to_prune if m not in leaves]
        missing_parameters = [
            n for m, n in parameters_to_prune if m in leaves and not hasattr(m, n)
        ]
        if missing_modules or missing_parameters:
            raise ConfigurationError(
                f"ModelPruning: Some provided `parameters_to_prune` don't exist in the model. "
                f"Found missing modules: {missing_modules} and missing parameters: "
                f"{missing_parameters}"
            )
        return parameters_to_prune


def _copy_param(target: nn.Module, source: nn.Module, name: str) -> None:
    """``source``'s ``name`` into ``target``'s (its ``<name>_orig`` when pruned)."""
    dst = getattr(target, name + "_orig", None)
    if dst is None:
        dst = getattr(target, name, None)
    src = getattr(source, name, None)
    if isinstance(dst, Tensor) and isinstance(src, Tensor):
        dst.data = src.data.to(dst.device)


def _pruned_stats(module: nn.Module, name: str) -> tuple[int, int]:
    """(entries pruned, entries) of ``module``'s ``name``; (0, 1) before any pruning."""
    mask = getattr(module, f"{name}_mask", None)
    if mask is None:
        return 0, 1
    return int((mask == 0).sum().item()), mask.numel()


def _folded_state_dict(module: nn.Module) -> dict[str, Any]:
    """``module.state_dict()`` with each ``<name>_orig``/``<name>_mask`` pair replaced by their
    product under ``<name>``, on the CPU."""
    state = module.state_dict()
    for key in [k[: -len("_mask")] for k in state if k.endswith("_mask")]:
        orig = state.pop(key + "_orig")
        mask = state.pop(key + "_mask")
        state[key] = mask.to(dtype=orig.dtype) * orig
    return {k: v.cpu() if isinstance(v, Tensor) else v for k, v in state.items()}
