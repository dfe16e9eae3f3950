# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_lambda_function.py
#   (test_lambda_call)
# Edits: the test turned into a __main__ program asserting what it asserted; tmpdir -> a
#   tempfile dir; get_members (from tests_pytorch.models.test_hooks) written inline.
import inspect
import tempfile
from functools import partial

from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import Callback, LambdaCallback
from lightning.pytorch.demos.boring_classes import BoringModel


def get_members(cls):
    return {h for h, _ in inspect.getmembers(cls, predicate=inspect.isfunction) if not h.startswith("_")}


def test_lambda_call(tmpdir):
    seed_everything(42)

    class CustomModel(BoringModel):
        def on_train_epoch_start(self):
            if self.current_epoch > 1:
                raise KeyboardInterrupt

    checker = set()

    def call(hook, *_, **__):
        checker.add(hook)

    hooks = get_members(Callback) - {"state_dict", "load_state_dict"}
    hooks_args = {h: partial(call, h) for h in hooks}

    model = CustomModel()

    # successful run
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        callbacks=[LambdaCallback(**hooks_args)],
    )
    trainer.fit(model)
    ckpt_path = trainer.checkpoint_callback.best_model_path

    # raises KeyboardInterrupt and loads from checkpoint
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_epochs=3,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        callbacks=[LambdaCallback(**hooks_args)],
    )
    try:
        trainer.fit(model, ckpt_path=ckpt_path)
    except SystemExit:  # Lightning 2 exits after a graceful KeyboardInterrupt shutdown
        pass
    trainer.test(model)
    trainer.predict(model)

    assert checker == hooks, sorted(hooks - checker)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        test_lambda_call(d)
    print("OK")
