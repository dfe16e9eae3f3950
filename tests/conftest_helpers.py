"""Tiny models, data and Trainer factories shared by the guide, parity and Trainer-API tests.

Not a conftest: the test modules import it by name (``from conftest_helpers import ...``).
Everything here is deliberately small so the tests run in seconds on two CPU cores.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle

IN_DIM = 4
BATCH_SIZE = 8


def regression_dataset(
    n: int, seed: int = 0, in_dim: int = IN_DIM, scale: float = 1.0
) -> TensorDataset:
    """``n`` samples of a noisy linear target; ``scale`` multiplies the targets (large -> large grads)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_dim, generator=g)
    w = torch.randn(in_dim, 1, generator=g)
    y = (x @ w + 0.1 * torch.randn(n, 1, generator=g)) * scale
    return TensorDataset(x, y)


def make_loader(
    n_batches: int = 4,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    shuffle: bool = False,
    shuffle_seed: int | None = None,
    scale: float = 1.0,
    n: int | None = None,
) -> DataLoader:
    """A DataLoader with exactly ``n_batches`` batches (or ``n`` samples when given)."""
    ds = regression_dataset(n if n is not None else n_batches * batch_size, seed=seed, scale=scale)
    kwargs = {}
    if shuffle:
        kwargs["generator"] = torch.Generator().manual_seed(
            0 if shuffle_seed is None else shuffle_seed
        )
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, **kwargs)


def make_trainer(tmp_path, **kwargs) -> treadle.Trainer:
    """A quiet CPU Trainer; ``kwargs`` override the defaults."""
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        max_epochs=1,
        default_root_dir=str(tmp_path),
    )
    callbacks = kwargs.get("callbacks") or []
    callbacks = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]
    # a checkpoint callback given turns checkpointing on (off with one is refused, as Lightning)
    defaults["enable_checkpointing"] = any(
        isinstance(c, treadle.callbacks.Checkpoint) for c in callbacks
    )
    defaults.update(kwargs)
    return treadle.Trainer(**defaults)


def mlp(seed: int = 0, hidden: int = 8) -> nn.Module:
    """A deterministic little MLP 4 -> hidden -> 1."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(IN_DIM, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def user_optimizer(opt):
    """The user's optimizer behind what ``optimizers()`` returned (or the optimizer itself)."""
    return getattr(opt, "optimizer", opt)


def user_scheduler(sch):
    """The user's scheduler behind what ``lr_schedulers()`` returned.

    Lightning returns the scheduler object itself; treadle may return a proxy whose ``.scheduler``
    is the user's own (``isinstance`` and attribute access still see the user's scheduler).
    """
    return getattr(sch, "scheduler", sch)


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def all_changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    """True when every parameter differs from its snapshot."""
    return all(not torch.equal(b, p.detach()) for b, p in zip(before, module.parameters()))


def any_changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(b, p.detach()) for b, p in zip(before, module.parameters()))


def grad_norm(params) -> float:
    grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0


def max_abs_grad(params) -> float:
    grads = [p.grad.detach().abs().max() for p in params if p.grad is not None]
    return float(max(grads)) if grads else 0.0


def assert_params_equal(a: nn.Module, b: nn.Module) -> None:
    """Bit-for-bit equality of every parameter, in order."""
    pa, pb = list(a.parameters()), list(b.parameters())
    assert len(pa) == len(pb)
    for i, (x, y) in enumerate(zip(pa, pb)):
        assert torch.equal(x.detach(), y.detach()), (
            f"parameter {i} differs: max |diff| = {(x - y).abs().max().item()}"
        )


def assert_params_close(a: nn.Module, b: nn.Module, atol: float = 1e-6) -> None:
    pa, pb = list(a.parameters()), list(b.parameters())
    assert len(pa) == len(pb)
    for i, (x, y) in enumerate(zip(pa, pb)):
        diff = (x.detach() - y.detach()).abs().max().item()
        assert diff <= atol, f"parameter {i} differs by {diff} > {atol}"


class RegressionModule(treadle.Module):
    """Automatic-optimization baseline: an MLP (or a given net), MSE loss, SGD."""

    def __init__(self, net: nn.Module | None = None, lr: float = 0.1):
        super().__init__()
        self.net = copy.deepcopy(net) if net is not None else nn.Linear(IN_DIM, 1)
        self.lr = lr

    def forward(self, x):
        return self.net(x)

    def compute_loss(self, batch):
        x, y = batch
        return F.mse_loss(self(x), y)

    def training_step(self, batch, batch_idx):
        return self.compute_loss(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)
