# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_limit_batches.py
#   (test_num_dataloader_batches, test_eval_limit_batches)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the parametrized tests turned into loops in a __main__ program asserting what they
#   asserted; tmpdir -> a tempfile dir; test_eval_limit_batches reads the counts after the public
#   `trainer.validate/test/predict` in place of the private data connector and loops; the caplog
#   info-message test is left out.
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_num_dataloader_batches(tmpdir):
    # when we have fewer batches in the dataloader we should use those instead of the limit
    model = BoringModel()
    trainer = Trainer(limit_val_batches=100, limit_train_batches=100, max_epochs=1, default_root_dir=tmpdir)
    trainer.fit(model)

    assert len(model.train_dataloader()) == 64
    assert len(model.val_dataloader()) == 64
    assert isinstance(trainer.num_val_batches, list)
    assert trainer.num_val_batches[0] == 64
    assert trainer.num_training_batches == 64

    # when we have more batches in the dataloader we should limit them
    model = BoringModel()
    trainer = Trainer(limit_val_batches=7, limit_train_batches=7, max_epochs=1, default_root_dir=tmpdir)
    trainer.fit(model)

    assert len(model.train_dataloader()) == 64
    assert len(model.val_dataloader()) == 64
    assert isinstance(trainer.num_val_batches, list)
    assert trainer.num_val_batches[0] == 7
    assert trainer.num_training_batches == 7


def test_eval_limit_batches(tmpdir, mode, limit_batches):
    limit_eval_batches = f"limit_{mode}_batches"
    dl_hook = f"{mode}_dataloader"
    model = BoringModel()
    eval_loader = getattr(model, dl_hook)()

    trainer = Trainer(**{limit_eval_batches: limit_batches}, default_root_dir=tmpdir)
    # edit: the public entry points in place of the private data connector
    if mode == "val":
        trainer.validate(model)
        loader_num_batches = trainer.num_val_batches
        dataloaders = trainer.val_dataloaders
    elif mode == "test":
        trainer.test(model)
        loader_num_batches = trainer.num_test_batches
        dataloaders = trainer.test_dataloaders
    elif mode == "predict":
        trainer.predict(model)
        loader_num_batches = trainer.num_predict_batches
        dataloaders = trainer.predict_dataloaders

    expected_batches = int(limit_batches * len(eval_loader)) if isinstance(limit_batches, float) else limit_batches
    assert loader_num_batches[0] == expected_batches
    assert len(dataloaders) == len(eval_loader)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_num_dataloader_batches(tmp)
        for mode in ("val", "test", "predict"):
            for limit_batches in (0.1, 10):
                test_eval_limit_batches(tmp, mode, limit_batches)
    print("OK")
