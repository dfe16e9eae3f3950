# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/connectors/test_signal_connector.py
#   (test_sigterm_handler_can_be_added)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir; pytest.raises -> try/except.
# The rest of the file is t_signal_connector.py.
import os
import signal
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import SIGTERMException


def test_sigterm_handler_can_be_added(tmp_path):
    handler_ran = False

    def handler(*_):
        nonlocal handler_ran
        handler_ran = True

    signal.signal(signal.SIGTERM, handler)

    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            os.kill(os.getpid(), signal.SIGTERM)

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)

    assert not trainer.received_sigterm
    assert not handler_ran
    try:
        trainer.fit(model)
    except SIGTERMException:
        pass
    else:
        raise AssertionError("fit() did not raise SIGTERMException")
    assert trainer.received_sigterm
    assert handler_ran

    # reset the signal to system defaults
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_sigterm_handler_can_be_added(d)
    print("OK")
