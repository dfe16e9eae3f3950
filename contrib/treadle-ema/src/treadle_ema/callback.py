"""``EMA``: an exponential moving average of the weights, used for validation.

After every optimizer step (every batch on which ``trainer.global_step`` advanced)::

    ema = decay * ema + (1 - decay) * weight

for every floating-point parameter of the ``Module``. During validation the averaged weights
are copied into the module and the training weights are copied back afterwards, so the
optimizer never sees them. The average is saved in checkpoints under ``"treadle_ema"`` and
restored by ``fit(ckpt_path=...)`` and ``validate(ckpt_path=...)``.
"""

from __future__ import annotations

import math
import warnings
import weakref

import torch

import treadle

CHECKPOINT_KEY = "treadle_ema"


class EMA(treadle.Callback):
    """Keep an exponential moving average of the module's parameters; validate with it.

    :param decay: weight of the old average, in ``[0, 1)``; ``0.999`` averages over roughly
        the last 1000 steps.
    :param every_n_steps: update the average every this many optimizer steps
        (``trainer.global_step``), not every step.
    :param validate_with_ema: swap the averaged weights in for validation (the default). With
        False the average is only kept (and checkpointed); see :meth:`copy_to`.

    Buffers (BatchNorm's running statistics, ...) are not averaged; validation uses the
    training buffers. Low-precision parameters (fp16/bf16) are averaged in float32.
    """

    def __init__(
        self, decay: float = 0.999, every_n_steps: int = 1, validate_with_ema: bool = True
    ) -> None:
        if (
            isinstance(decay, bool)
            or not isinstance(decay, (int, float))
            or math.isnan(decay)
            or not 0.0 <= decay < 1.0
        ):
            raise ValueError(
                f"EMA(decay={decay!r}): decay must be a number in [0, 1), e.g. EMA(decay=0.999)."
            )
        if (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, int)
            or every_n_steps < 1
        ):
            raise ValueError(f"EMA(every_n_steps={every_n_steps!r}): must be an int >= 1.")
        self.decay = float(decay)
        self.every_n_steps = every_n_steps
        self.validate_with_ema = bool(validate_with_ema)
        #: parameter name -> averaged value (None until the first fit or a checkpoint load)
        self.shadow: dict[str, torch.Tensor] | None = None
        #: how many times the average was updated
        self.num_updates = 0
        self._owner: weakref.ref | None = None  # the module the average belongs to
        self._params: list[tuple[str, torch.nn.Parameter]] = []
        self._shadow_list: list[torch.Tensor] = []
        self._last_step: int | None = None
        self._backup: list[torch.Tensor] | None = None  # training weights during validation

    def __repr__(self) -> str:
        return (
            f"EMA(decay={self.decay}, every_n_steps={self.every_n_steps}, "
            f"validate_with_ema={self.validate_with_ema})"
        )

    # -- public helpers ------------------------------------------------------------------------

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        """Overwrite ``module``'s parameters with the average (for export or inference)."""
        if self.shadow is None:
            raise RuntimeError(
                "EMA.copy_to(): no average yet; call it after `trainer.fit()` or "
                "after loading a checkpoint that holds one."
            )
        for name, p in self._checked_params(module):
            p.copy_(self.shadow[name])

    # -- hooks (Lightning's callback signatures) -----------------------------------------------

    def validate(self, trainer, pl_module) -> list[str]:
        # Asked of the strategy (treadle.kinds.Strategy), not matched by name: ZeRO stage 3
        # shards whether it comes from the name, an offload variant or a DeepSpeedConfig.
        strategy = trainer.strategy
        if strategy.shards_parameters:
            return [
                f"{self!r} cannot average parameters that `strategy={strategy.name!r}` "
                f"shards across ranks (a local average would be of shards). Use a strategy "
                f"that keeps whole parameters on every rank (e.g. 'deepspeed_stage_2' or "
                f"'ddp'), or remove the EMA callback (and unset TREADLE_EMA_DECAY)."
            ]
        return []

    def on_fit_start(self, trainer, pl_module) -> None:
        params = _floating_params(pl_module)
        if not self._belongs_to(pl_module, params):
            self.shadow = {name: _new_average(p) for name, p in params}
            self.num_updates = 0
            self._owner = weakref.ref(pl_module)
        self._params = params
        self._shadow_list = [self.shadow[name] for name, _ in params]
        self._last_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._last_step:  # no optimizer stepped on this batch (accumulation)
            return
        self._last_step = step
        if step % self.every_n_steps == 0:
            self._update()

    def on_validation_start(self, trainer, pl_module) -> None:
        if not self.validate_with_ema:
            return
        if self.shadow is None or self._owner is None or self._owner() is not pl_module:
            warnings.warn(
                f"{self!r} has no average of {type(pl_module).__name__}'s weights to "
                f"validate with (it was not fitted with this callback and no "
                f"checkpoint with one was loaded); validating its own weights.",
                stacklevel=2,
            )
            return
        params = self._checked_params(pl_module)
        with torch.no_grad():
            self._backup = [p.detach().clone() for _, p in params]
            for name, p in params:
                p.copy_(self.shadow[name])

    def on_validation_end(self, trainer, pl_module) -> None:
        self._restore_training_weights(pl_module)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._restore_training_weights(pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if self.shadow is None:
            return
        checkpoint[CHECKPOINT_KEY] = {
            "decay": self.decay,
            "every_n_steps": self.every_n_steps,
            "num_updates": self.num_updates,
            "shadow": dict(self.shadow),
        }
        if self._backup is not None:  # saved during validation: store the training weights
            state = checkpoint.get("state_dict", {})
            for (name, _), weight in zip(_floating_params(pl_module), self._backup):
                if name in state:
                    state[name] = weight

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:  # a checkpoint written without EMA: start from its weights
            self.shadow, self.num_updates, self._owner = None, 0, None
            return
        params = _floating_params(pl_module)
        saved = state["shadow"]
        names = [name for name, _ in params]
        if sorted(saved) != sorted(names):
            raise RuntimeError(
                f"{self!r}: the checkpoint's average has parameters {_diff(saved, names)} that "
                f"do not match the module's. Load it into the module it was trained with."
            )
        self.shadow = {
            name: saved[name].to(device=p.device, dtype=_average_dtype(p)).clone()
            for name, p in params
        }
        self.num_updates = int(state.get("num_updates", 0))
        self._owner = weakref.ref(pl_module)

    # -- internals -----------------------------------------------------------------------------

    @torch.no_grad()
    def _update(self) -> None:
        shadows, decay = self._shadow_list, self.decay
        weights = [
            p if p.dtype == s.dtype else p.to(s.dtype) for (_, p), s in zip(self._params, shadows)
        ]
        torch._foreach_mul_(shadows, decay)
        torch._foreach_add_(shadows, weights, alpha=1.0 - decay)
        self.num_updates += 1

    def _belongs_to(self, module, params) -> bool:
        if self.shadow is None or self._owner is None or self._owner() is not module:
            return False
        return all(
            name in self.shadow and self.shadow[name].shape == p.shape for name, p in params
        ) and len(self.shadow) == len(params)

    def _checked_params(self, module) -> list[tuple[str, torch.nn.Parameter]]:
        params = _floating_params(module)
        names = [name for name, _ in params]
        if self.shadow is None or sorted(self.shadow) != sorted(names):
            raise RuntimeError(
                f"{self!r}: the average has parameters "
                f"{_diff(self.shadow or {}, names)} that do not match "
                f"{type(module).__name__}'s."
            )
        return params

    @torch.no_grad()
    def _restore_training_weights(self, module) -> None:
        if self._backup is None:
            return
        backup, self._backup = self._backup, None
        for (_, p), weight in zip(_floating_params(module), backup):
            p.copy_(weight)


def _floating_params(module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(name, p) for name, p in module.named_parameters() if p.is_floating_point()]


def _average_dtype(p: torch.Tensor) -> torch.dtype:
    return torch.float32 if p.dtype in (torch.float16, torch.bfloat16) else p.dtype


def _new_average(p: torch.Tensor) -> torch.Tensor:
    return p.detach().to(dtype=_average_dtype(p), copy=True)


def _diff(saved, names) -> str:
    missing = sorted(set(names) - set(saved))
    extra = sorted(set(saved) - set(names))
    return f"(missing: {missing[:5]}, unexpected: {extra[:5]})"
