# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/launchers/test_multiprocessing.py
#   (test_fit_twice_raises; the file's other public test is t_launcher_multiprocessing.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; a tempfile dir as
#   default_root_dir; the `mps_count_0` fixture dropped (no MPS here); `pytest.raises(match=)` ->
#   try/except and `re.search` (pytest is not installed beside the reference Lightning).
# A difference (tests/test_lightning_programs.py DIFFERENCES): treadle's ddp_spawn brings the
#   workers' loop state back, so a second `fit` continues where the first ended; Lightning 2.6.6
#   refuses it with NotImplementedError (a limitation it means to lift, its issue 18775).
import re
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_fit_twice_raises(tmp_path):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=1,
        limit_test_batches=1,
        num_sanity_val_steps=0,
        max_epochs=1,
        strategy="ddp_spawn",
        barebones=True,
    )
    trainer.fit(model)
    trainer.test(model)  # make sure testing in between doesnt impact the result
    trainer.fit_loop.max_epochs += 1
    try:
        trainer.fit(model)
    except NotImplementedError as err:
        assert re.search(r"twice.*is not supported", str(err)), err
    else:
        raise AssertionError("fit twice with ddp_spawn did not raise")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_fit_twice_raises(tmp)
    print("ok")
