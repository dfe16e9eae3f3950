# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_accelerator_connector.py
#   (test_accelerator_cpu_with_devices (devices=5), test_check_fsdp_strategy_and_fallback,
#    test_precision_selection_model_parallel)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; pytest.raises -> try/except; the private `_AcceleratorConnector(...)` ->
#   `Trainer(...)`. Split out of `t_accelerator_connector.py` because each meets a documented
#   difference (docs/migration.md 3 and 5, docs/fsdp.md): treadle refuses CPU `devices` beyond
#   4 processes a core (devices=5 under one core, as run_all.py and the tests run it); it runs `strategy="fsdp"` on the CPU (gloo) where
#   Lightning refuses it, and takes neither a custom Strategy subclass (`FSDPStrategySubclass`)
#   nor `ModelParallelStrategy`. This program is a strict expected failure in
#   tests/test_lightning_programs.py; `t_accelerator_connector.py` keeps passing.
import re

from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy, ModelParallelStrategy


def raises(exc_type, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        assert re.search(match, str(e)), f"{match!r} not in {str(e)!r}"
        return e
    raise AssertionError(f"{exc_type.__name__} matching {match!r} not raised")


def test_accelerator_cpu_with_devices():
    trainer = Trainer(accelerator="cpu", devices=5)
    assert trainer.num_devices == 5
    assert isinstance(trainer.strategy, DDPStrategy)
    assert isinstance(trainer.accelerator, CPUAccelerator)


def test_check_fsdp_strategy_and_fallback():
    raises(ValueError, "The strategy `fsdp` requires a GPU accelerator", Trainer, accelerator="cpu", strategy="fsdp")

    class FSDPStrategySubclass(FSDPStrategy):
        pass

    class AcceleratorSubclass(CPUAccelerator):
        pass

    # we allow subclasses of FSDPStrategy to be used with other accelerators
    Trainer(accelerator="cpu", strategy=FSDPStrategySubclass())
    Trainer(accelerator=AcceleratorSubclass(), strategy=FSDPStrategySubclass())


def test_precision_selection_model_parallel():
    for precision, fails in [("32-true", False), ("16-true", False), ("bf16-true", False), ("16-mixed", True), ("bf16-mixed", False)]:
        if fails:
            raises(ValueError, f"does not support .*{precision}", Trainer, precision=precision, strategy=ModelParallelStrategy())
        else:
            Trainer(precision=precision, strategy=ModelParallelStrategy())


if __name__ == "__main__":
    failed = []
    tests = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]
    for test in tests:
        try:
            test()
            print("ok", test.__name__)
        except Exception as e:  # every difference is reported, then the program fails
            print("FAIL", test.__name__, type(e).__name__, str(e).splitlines()[0][:300])
            failed.append(test.__name__)
    if failed:
        raise SystemExit(f"{len(failed)} of {len(tests)} tests failed: {failed}")
    print(f"{len(tests)} tests passed")
