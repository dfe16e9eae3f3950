"""``Trainer(barebones=True)`` under ``ddp_spawn``: the workers rebuild the Trainer from its
validated config, which must pass the barebones checks again (``log_every_n_steps`` is 0 in
barebones mode, as Lightning sets it, not the default 50 that barebones refuses)."""

from __future__ import annotations

from lightning_boring import BoringModel

import treadle


def test_barebones_config_rebuilds() -> None:
    trainer = treadle.Trainer(barebones=True)
    assert trainer.config.log_every_n_steps == 0 == trainer.log_every_n_steps
    # what a ddp_spawn worker does with the caller's config
    again = treadle.Trainer(**trainer.config.as_dict())
    assert again.barebones and again.log_every_n_steps == 0


def test_barebones_ddp_spawn_fits(tmp_path) -> None:
    # Ported from tests/tests_pytorch/strategies/launchers/test_multiprocessing.py::test_fit_twice_raises
    # (its first fit, which failed in the workers with "barebones=True, log_every_n_steps=50")
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_test_batches=1,
        max_epochs=1,
        strategy="ddp_spawn",
        devices=1,
        barebones=True,
    )
    trainer.fit(BoringModel())
    assert trainer.state.finished and trainer.global_step == 1
