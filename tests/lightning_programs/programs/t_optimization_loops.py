# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/optimization/test_closure.py
#   (test_optimizer_step_no_closure_raises),
#   https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/optimization/test_automatic_loop.py
#   (test_warning_invalid_trainstep_output, test_skip_training_step_not_allowed with world_size=1),
#   https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/optimization/test_manual_loop.py
#   (test_warning_invalid_trainstep_output)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a tempfile dir; pytest.raises(match=) -> try/except with re.search;
#   the manual loop's `match=` -> Lightning 2.6.6's words (the test's are master's).
#   Left out: test_closure_result_deepcopy, test_closure_result_apply_accumulation and
#   test_manual_result (they test the private loop classes `ClosureResult`/`ManualResult`),
#   and test_skip_training_step_not_allowed's world_size=2 case (it fakes a distributed run
#   by setting `trainer.strategy.world_size = 2` on a one-process strategy).
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException


class raises:
    def __init__(self, exc, match):
        self.exc, self.match = exc, match

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        assert typ is not None, f"DID NOT RAISE {self.exc}"
        assert issubclass(typ, self.exc), (typ, value)
        assert re.search(self.match, str(value)), (self.match, str(value))
        return True


# -- test_closure.py ------------------------------------------------------------------------------


def test_optimizer_step_no_closure_raises(tmp_path):
    class TestModel(BoringModel):
        def optimizer_step(
            self, epoch=None, batch_idx=None, optimizer=None, optimizer_closure=None, **_
        ):
            # does not call `optimizer_closure()`
            pass

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=1)
    with raises(MisconfigurationException, "The closure hasn't been executed"):
        trainer.fit(model)

    class TestModel(BoringModel):
        def configure_optimizers(self):
            class BrokenSGD(torch.optim.SGD):
                def step(self, closure=None):
                    # forgot to pass the closure
                    return super().step()

            return BrokenSGD(self.layer.parameters(), lr=0.1)

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=1)
    with raises(MisconfigurationException, "The closure hasn't been executed"):
        trainer.fit(model)


# -- test_automatic_loop.py -----------------------------------------------------------------------

T = TypeVar("T")


class OutputMapping(Generic[T], Mapping[str, T]):
    def __init__(self, d: dict[str, T]) -> None:
        self.d: dict[str, T] = d

    def __iter__(self) -> Iterator[str]:
        return iter(self.d)

    def __len__(self) -> int:
        return len(self.d)

    def __getitem__(self, key: str) -> T:
        return self.d[key]


def test_warning_invalid_trainstep_output(tmp_path, case):
    output, match = case

    class InvalidTrainStepModel(BoringModel):
        def training_step(self, batch, batch_idx):
            return output

    model = InvalidTrainStepModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=1)

    with raises(MisconfigurationException, match):
        trainer.fit(model)


def test_skip_training_step_not_allowed(world_size, tmp_path):
    """Test that skipping the training_step in distributed training is not allowed."""

    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            return None

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_steps=1,
        barebones=True,
    )
    assert world_size == 1
    trainer.fit(model)


# -- test_manual_loop.py --------------------------------------------------------------------------


def test_manual_warning_invalid_trainstep_output(tmp_path):
    class InvalidTrainStepModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            return 5

    model = InvalidTrainStepModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=1)

    # Lightning 2.6.6's words (master: "return a Tensor, a dict with extras .* or have no return")
    with raises(MisconfigurationException, "must either return a Tensor or have no return"):
        trainer.fit(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_optimizer_step_no_closure_raises(tmp)
    for case in [
        (5.0, "must return a Tensor, a dict, or None"),
        ({"a": 5}, "the 'loss' key needs to be present"),
        (OutputMapping({"a": 5}), "the 'loss' key needs to be present"),
    ]:
        with tempfile.TemporaryDirectory() as tmp:
            test_warning_invalid_trainstep_output(tmp, case)
    with tempfile.TemporaryDirectory() as tmp:
        test_skip_training_step_not_allowed(1, tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_manual_warning_invalid_trainstep_output(tmp)
    print("OK")
