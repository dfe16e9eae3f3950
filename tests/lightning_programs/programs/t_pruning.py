# Source: the behaviour of https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_pruning.py
#   (test_pruning_misconfiguration, test_pruning_callback, test_pruning_lth_callable,
#    test_multiple_pruning_callbacks, test_permanent_when_model_is_saved_multiple_times,
#    test_sanitize_parameters_explicit_check), written as one __main__ program.
# Edits: the tests turned into one program asserting what they asserted (pytest.raises ->
#   try/except on MisconfigurationException, parametrize -> loops over fewer values: 4 batches
#   and 2 epochs a fit instead of 10 and 10); the caplog assertions on the "Applied ..." log
#   lines dropped (Lightning's logger does not propagate outside its test suite); the GPU and
#   DDP variants left out.
import tempfile
from collections import OrderedDict

import torch
import torch.nn.utils.prune as pytorch_prune
from torch import nn

from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint, ModelPruning
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException


class PruneModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(
            OrderedDict(
                [
                    ("mlp_1", nn.Linear(32, 32)),
                    ("mlp_2", nn.Linear(32, 32, bias=False)),
                    ("mlp_3", nn.Linear(32, 2)),
                ]
            )
        )

    def training_step(self, batch, batch_idx):
        self.log("test", -batch_idx)
        return super().training_step(batch, batch_idx)


class EveryOtherEntry(pytorch_prune.BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, _, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


def trainer_for(root, callbacks, **kwargs):
    args = dict(
        default_root_dir=root,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=False,
        limit_train_batches=4,
        limit_val_batches=2,
        max_epochs=2,
    )
    args.update(kwargs)
    return Trainer(callbacks=callbacks, **args)


def refused(words, **kwargs):
    try:
        ModelPruning(**kwargs)
    except MisconfigurationException as err:
        assert words in str(err), str(err)
    else:
        raise AssertionError(f"ModelPruning({kwargs}) was accepted")


def misconfiguration():
    refused("chocolate isn't in ('weight', 'bias')", pruning_fn="l1_unstructured", parameter_names=["chocolate"])
    refused("expected to be a str in [", pruning_fn={})
    refused("should be provided", pruning_fn="random_structured")
    refused("must be any of (0, 1, 2)", pruning_fn="l1_unstructured", verbose=3)
    refused("requesting `ln_structured` pruning, the `pruning_norm`", pruning_fn="ln_structured", pruning_dim=0)
    refused("is supported with `use_global_unstructured=True`", pruning_fn="random_structured", pruning_dim=0)
    refused("currently only supported with", pruning_fn=EveryOtherEntry, use_global_unstructured=False)


def pruning_callback(root, pruning_fn, use_global_unstructured, lottery):
    seed_everything(1)
    model = PruneModel()
    assert torch.all(model.layer.mlp_2.weight != 0)
    structured = isinstance(pruning_fn, str) and pruning_fn.endswith("_structured")
    kwargs = dict(
        pruning_fn=pruning_fn,
        amount=0.3,
        use_global_unstructured=use_global_unstructured,
        use_lottery_ticket_hypothesis=lottery,
        verbose=1,
        parameter_names=["weight"] if structured else ["weight", "bias"],
    )
    if structured:
        kwargs["pruning_dim"] = 0
    if pruning_fn == "ln_structured":
        kwargs["pruning_norm"] = 1
    trainer = trainer_for(root, ModelPruning(**kwargs))
    trainer.fit(model)
    trainer.test(model)
    assert torch.any(model.layer.mlp_2.weight == 0)
    assert not hasattr(model.layer.mlp_2, "weight_orig")  # made permanent when training ended


def lth_callable(root, resample_parameters):
    model = PruneModel()

    class CountingPruning(ModelPruning):
        lth_calls = 0

        def apply_lottery_ticket_hypothesis(self):
            super().apply_lottery_ticket_hypothesis()
            self.lth_calls += 1

    pruning = CountingPruning(
        "l1_unstructured", use_lottery_ticket_hypothesis=lambda e: bool(e % 2), resample_parameters=resample_parameters
    )
    trainer = trainer_for(root, pruning, max_epochs=5)
    trainer.fit(model)
    assert pruning.lth_calls == trainer.max_epochs // 2


def multiple_callbacks(root, make_pruning_permanent):
    model = PruneModel()
    kwargs = dict(
        parameters_to_prune=[(model.layer.mlp_1, "weight"), (model.layer.mlp_3, "weight")],
        verbose=2,
        make_pruning_permanent=make_pruning_permanent,
    )
    p1 = ModelPruning("l1_unstructured", amount=0.5, apply_pruning=lambda e: not e % 2, **kwargs)
    p2 = ModelPruning("random_unstructured", amount=0.25, apply_pruning=lambda e: e % 2, **kwargs)
    trainer = trainer_for(root, [p1, p2], max_epochs=3)
    trainer.fit(model)
    filepath = f"{root}/foo.ckpt"
    trainer.save_checkpoint(filepath)
    saved = torch.load(filepath, weights_only=True)["state_dict"]
    assert ("layer.mlp_1.weight_orig" in saved) == (not make_pruning_permanent)
    has_pruning = hasattr(model.layer.mlp_1, "weight_orig")
    assert not has_pruning if make_pruning_permanent else has_pruning


def saved_multiple_times(root, prune_on_train_epoch_end):
    class CheckingPruning(ModelPruning):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            had_buffers = hasattr(pl_module.layer.mlp_3, "weight_orig")
            super().on_save_checkpoint(trainer, pl_module, checkpoint)
            assert "layer.mlp_3.weight_orig" not in checkpoint["state_dict"]
            if had_buffers:
                assert hasattr(pl_module.layer.mlp_3, "weight_orig")

    model = PruneModel()
    pruning = CheckingPruning(
        "random_unstructured",
        parameters_to_prune=[(model.layer.mlp_3, "weight")],
        verbose=1,
        make_pruning_permanent=True,
        prune_on_train_epoch_end=prune_on_train_epoch_end,
    )
    ckpt = ModelCheckpoint(monitor="test", save_top_k=2, save_last=True, save_on_train_epoch_end=False)
    trainer = Trainer(
        default_root_dir=root,
        logger=False,
        callbacks=[pruning, ckpt],
        max_epochs=3,
        limit_train_batches=4,
        limit_val_batches=2,
        enable_progress_bar=False,
    )
    trainer.fit(model)
    assert not hasattr(model.layer.mlp_3, "weight_orig")
    model = PruneModel.load_from_checkpoint(trainer.checkpoint_callback.kth_best_model_path)
    assert not hasattr(model.layer.mlp_3, "weight_orig")
    model = PruneModel.load_from_checkpoint(trainer.checkpoint_callback.last_model_path)
    assert not hasattr(model.layer.mlp_3, "weight_orig")


def sanitize_parameters():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(5, 5))
            self.bias = nn.Parameter(torch.randn(5))
            self.some_tensor = torch.randn(3, 3)

    class HolderModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.test_module = Holder()

    found = ModelPruning.sanitize_parameters_to_prune(
        HolderModel(), parameters_to_prune=(), parameter_names=["weight", "bias", "some_tensor"]
    )
    names = {name for _, name in found}
    assert names == {"weight", "bias"}, names
    assert all(isinstance(getattr(m, n), nn.Parameter) for m, n in found)


if __name__ == "__main__":
    misconfiguration()
    cases = [
        ("l1_unstructured", False),
        ("l1_unstructured", True),
        ("random_unstructured", True),
        ("ln_structured", False),
        ("random_structured", False),
        (EveryOtherEntry, True),
    ]
    for fn, global_ in cases:
        for lottery in (False, True):
            with tempfile.TemporaryDirectory() as d:
                pruning_callback(d, fn, global_, lottery)
    for resample in (False, True):
        with tempfile.TemporaryDirectory() as d:
            lth_callable(d, resample)
    for permanent in (False, True):
        with tempfile.TemporaryDirectory() as d:
            multiple_callbacks(d, permanent)
    for on_train_epoch_end in (False, True):
        with tempfile.TemporaryDirectory() as d:
            saved_multiple_times(d, on_train_epoch_end)
    sanitize_parameters()
    print("OK")
