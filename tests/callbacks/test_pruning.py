"""ModelPruning.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_pruning.py`` (Apache-2.0,
Copyright The Lightning AI team): the behaviour each test checks is Lightning's; the code is
translated to treadle's names and made smaller (2 epochs of 4 batches instead of 10 of 10, and
the pruning-function grid without the ``parameters_to_prune`` axis). The GPU and DDP variants
are not ported. Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from boring_model import BoringModel, quiet
from torch import nn

import treadle
from treadle.callbacks import ModelCheckpoint, ModelPruning
from treadle.utilities import MisconfigurationException


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


class EveryOther(torch_prune.BasePruningMethod):
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, _, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


def _trainer(tmp_path, callbacks, **kwargs):
    args = quiet(tmp_path, limit_train_batches=4, limit_val_batches=2, max_epochs=2)
    return treadle.Trainer(**{**args, **kwargs}, callbacks=callbacks)


def test_pruning_misconfiguration():
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: The provided `parameter_names` name: chocolate isn't in "
            "('weight', 'bias')"
        ),
    ):
        ModelPruning(pruning_fn="l1_unstructured", parameter_names=["chocolate"])
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: `pruning_fn` is expected to be a str in ['ln_structured', "
            "'l1_unstructured', 'random_structured', 'random_unstructured'] or a PyTorch "
            "`BasePruningMethod`. Found: {}. HINT: if passing a `BasePruningMethod`, pass the "
            "class, not an instance"
        ),
    ):
        ModelPruning(pruning_fn={})
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: When requesting `structured` pruning, the `pruning_dim` should be "
            "provided."
        ),
    ):
        ModelPruning(pruning_fn="random_structured")
    with pytest.raises(
        MisconfigurationException,
        match=re.escape("ModelPruning(verbose=3): `verbose` must be any of (0, 1, 2)"),
    ):
        ModelPruning(pruning_fn="l1_unstructured", verbose=3)
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: When requesting `ln_structured` pruning, the `pruning_norm` should "
            "be provided."
        ),
    ):
        ModelPruning(pruning_fn="ln_structured", pruning_dim=0)
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: The provided `pruning_fn` l2_unstructured isn't available in "
            "PyTorch's built-in functions: ['ln_structured', 'l1_unstructured', "
            "'random_structured', 'random_unstructured'] "
        ),
    ):
        ModelPruning(pruning_fn="l2_unstructured")
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning(amount='half'): `amount` should be provided and be either an int, a "
            "float or Callable function."
        ),
    ):
        ModelPruning(pruning_fn="l1_unstructured", amount="half")  # type: ignore[arg-type]


@pytest.mark.parametrize("use_global_unstructured", [False, True])
@pytest.mark.parametrize(
    "pruning_fn",
    ["l1_unstructured", "random_unstructured", "ln_structured", "random_structured", EveryOther],
)
def test_pruning_callback(tmp_path, use_global_unstructured, pruning_fn):
    treadle.seed_everything(1)
    model = PruneModel()
    assert torch.all(model.layer.mlp_2.weight != 0)
    structured = isinstance(pruning_fn, str) and pruning_fn.endswith("_structured")
    kwargs = {
        "pruning_fn": pruning_fn,
        "amount": 0.3,
        "use_global_unstructured": use_global_unstructured,
        "use_lottery_ticket_hypothesis": True,
        "verbose": 1,
        "parameter_names": ["weight"] if structured else ["weight", "bias"],
    }
    if structured:
        kwargs["pruning_dim"] = 0
    if pruning_fn == "ln_structured":
        kwargs["pruning_norm"] = 1
    if structured and use_global_unstructured:
        with pytest.raises(
            MisconfigurationException,
            match=re.escape(
                'ModelPruning: Only the "unstructured" PRUNING_TYPE is supported with '
                "`use_global_unstructured=True`."
            ),
        ):
            ModelPruning(**kwargs)
        return
    if pruning_fn is EveryOther and not use_global_unstructured:
        with pytest.raises(
            MisconfigurationException,
            match=re.escape(
                "ModelPruning: PyTorch `BasePruningMethod` is currently only supported with "
                "`use_global_unstructured=True`."
            ),
        ):
            ModelPruning(**kwargs)
        return
    trainer = _trainer(tmp_path, ModelPruning(**kwargs))
    trainer.fit(model)
    trainer.test(model, dataloaders=model.val_dataloader())
    assert torch.any(model.layer.mlp_2.weight == 0)  # pruned, and permanent after training
    assert not hasattr(model.layer.mlp_2, "weight_orig")


@pytest.mark.parametrize("resample_parameters", [False, True])
def test_pruning_lth_callable(tmp_path, resample_parameters):
    model = PruneModel()

    class CountingPruning(ModelPruning):
        lth_calls = 0

        def apply_lottery_ticket_hypothesis(self):
            super().apply_lottery_ticket_hypothesis()
            self.lth_calls += 1
            for original, names in self._original_layers.values():
                for i, name in names:
                    current, current_name = self._parameters_to_prune[i]
                    assert name == current_name
                    actual = getattr(current, name + "_orig", None)
                    actual = getattr(current, name) if actual is None else actual
                    same = torch.allclose(actual.data, getattr(original, name).data)
                    assert not same if self._resample_parameters else same

    pruning = CountingPruning(
        "l1_unstructured",
        use_lottery_ticket_hypothesis=lambda e: bool(e % 2),
        resample_parameters=resample_parameters,
    )
    trainer = _trainer(tmp_path, pruning, max_epochs=5)
    trainer.fit(model)
    assert pruning.lth_calls == trainer.max_epochs // 2


@pytest.mark.parametrize("make_pruning_permanent", [False, True])
def test_multiple_pruning_callbacks(tmp_path, caplog, make_pruning_permanent):
    model = PruneModel()
    kwargs = {
        "parameters_to_prune": [(model.layer.mlp_1, "weight"), (model.layer.mlp_3, "weight")],
        "verbose": 2,
        "make_pruning_permanent": make_pruning_permanent,
    }
    p1 = ModelPruning("l1_unstructured", amount=0.5, apply_pruning=lambda e: not e % 2, **kwargs)
    p2 = ModelPruning("random_unstructured", amount=0.25, apply_pruning=lambda e: e % 2, **kwargs)
    trainer = _trainer(tmp_path, [p1, p2], max_epochs=3)
    with caplog.at_level(logging.INFO):
        trainer.fit(model)
    actual = [m.strip() for m in caplog.messages if m.strip().startswith("Applied")]
    pct = r"\(\d+(?:\.\d+)?%\)"
    big = r"`Linear\(in_features=32, out_features=32, bias=True\).weight`"
    small = r"`Linear\(in_features=32, out_features=2, bias=True\).weight`"
    expected = [
        rf"Applied `L1Unstructured`. Pruned: \d+/1088 {pct} -> \d+/1088 {pct}",
        rf"Applied `L1Unstructured` to {big} with amount=0.5. Pruned: 0 \(0.00%\) -> \d+ {pct}",
        rf"Applied `L1Unstructured` to {small} with amount=0.5. Pruned: 0 \(0.00%\) -> \d+ {pct}",
        rf"Applied `RandomUnstructured`. Pruned: \d+/1088 {pct} -> \d+/1088 {pct}",
        rf"Applied `RandomUnstructured` to {big} with amount=0.25. Pruned: \d+ {pct} -> \d+ {pct}",
        rf"Applied `RandomUnstructured` to {small} with amount=0.25. Pruned: \d+ {pct} -> \d+ {pct}",
        rf"Applied `L1Unstructured`. Pruned: \d+/1088 {pct} -> \d+/1088 {pct}",
        rf"Applied `L1Unstructured` to {big} with amount=0.5. Pruned: \d+ {pct} -> \d+ {pct}",
        rf"Applied `L1Unstructured` to {small} with amount=0.5. Pruned: \d+ {pct} -> \d+ {pct}",
    ]
    assert len(actual) == len(expected)
    for message, pattern in zip(actual, expected):
        assert re.fullmatch(pattern, message), message
    path = tmp_path / "foo.ckpt"
    trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert ("layer.mlp_1.weight_orig" in saved) is not make_pruning_permanent
    assert hasattr(model.layer.mlp_1, "weight_orig") is not make_pruning_permanent


@pytest.mark.parametrize("prune_on_train_epoch_end", [False, True])
def test_permanent_when_model_is_saved_multiple_times(tmp_path, caplog, prune_on_train_epoch_end):
    """A saved checkpoint holds folded weights; the Module keeps its pruning buffers to go on."""

    class CheckingPruning(ModelPruning):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            had_buffers = hasattr(pl_module.layer.mlp_3, "weight_orig")
            super().on_save_checkpoint(trainer, pl_module, checkpoint)
            assert "layer.mlp_3.weight_orig" not in checkpoint["state_dict"]
            assert "layer.mlp_3.weight" in checkpoint["state_dict"]
            if had_buffers:
                assert hasattr(pl_module.layer.mlp_3, "weight_orig")

    model = PruneModel()
    pruning = CheckingPruning(
        "random_unstructured",
        parameters_to_prune=[(model.layer.mlp_3, "weight")],
        verbose=1,
        prune_on_train_epoch_end=prune_on_train_epoch_end,
    )
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path,
        monitor="test",
        save_top_k=2,
        save_last=True,
        save_on_train_epoch_end=False,
    )
    trainer = _trainer(tmp_path, [pruning, checkpoint], max_epochs=3, enable_checkpointing=True)
    with caplog.at_level(logging.INFO):
        trainer.fit(model)
    applied = [m for m in caplog.messages if m.startswith("Applied")]
    assert len(applied) == 3
    for message in applied:
        assert re.fullmatch(
            r"Applied `RandomUnstructured`. Pruned: \d+/64 \(\d+\.\d+%\) -> \d+/64 \(\d+\.\d+%\)",
            message,
        )
    assert not hasattr(model.layer.mlp_3, "weight_orig")  # made permanent in on_train_end
    for path in (checkpoint.kth_best_model_path, checkpoint.last_model_path):
        loaded = PruneModel.load_from_checkpoint(path)
        assert not hasattr(loaded.layer.mlp_3, "weight_orig")


def test_sanitize_parameters_explicit_check():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(5, 5))
            self.bias = nn.Parameter(torch.randn(5))
            self.some_tensor = torch.randn(3, 3)  # a tensor, not a parameter

    class HolderModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.test_module = Holder()

    found = ModelPruning.sanitize_parameters_to_prune(
        HolderModel(), parameters_to_prune=(), parameter_names=["weight", "bias", "some_tensor"]
    )
    assert {name for _, name in found} == {"weight", "bias"}
    assert all(isinstance(getattr(m, n), nn.Parameter) for m, n in found)


# -- treadle ------------------------------------------------------------------------------------


def test_parameters_to_prune_outside_the_model_are_named(tmp_path):
    stranger = nn.Linear(2, 2)
    pruning = ModelPruning("l1_unstructured", parameters_to_prune=[(stranger, "weight")])
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: Some provided `parameters_to_prune` don't exist in the model. Found "
            "missing modules: [Linear(in_features=2, out_features=2, bias=True)] and missing "
            "parameters: []"
        ),
    ):
        _trainer(tmp_path, pruning).fit(PruneModel())
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "ModelPruning: The provided `parameters_to_prune` should either be list of tuple "
            "with 2 elements: (nn.Module, parameter_name_to_prune) or None"
        ),
    ):
        ModelPruning.sanitize_parameters_to_prune(PruneModel(), [("layer", "weight")])  # type: ignore[list-item]


def test_amount_as_a_function_of_the_epoch_and_resume(tmp_path):
    """The amount is asked each epoch; a checkpoint saved mid-training loads into a plain
    Module with the pruned entries zero."""
    asked = []

    def amount(epoch):
        asked.append(epoch)
        return 0 if epoch == 0 else 0.5

    model = PruneModel()
    pruning = ModelPruning(
        "l1_unstructured",
        amount=amount,
        use_global_unstructured=False,
        use_lottery_ticket_hypothesis=False,
    )
    trainer = _trainer(tmp_path, pruning, max_epochs=2, limit_val_batches=0)
    trainer.fit(model)
    assert asked == [0, 1]
    assert int((model.layer.mlp_2.weight == 0).sum()) == 32 * 32 // 2  # half, at epoch 1's end
    trainer.save_checkpoint(tmp_path / "pruned.ckpt")
    again = PruneModel.load_from_checkpoint(tmp_path / "pruned.ckpt")
    assert torch.equal(again.layer.mlp_2.weight, model.layer.mlp_2.weight)
