"""BaseFinetuning and BackboneFinetuning.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_finetuning_callback.py``
(Apache-2.0, Copyright The Lightning AI team): the behaviour each test checks is Lightning's;
the code is translated to treadle's names and made smaller (fewer batches). Not ported:
``test_unsupported_strategies`` (DeepSpeed: pinned by our own test below instead) and
``test_finetuning_with_configure_model`` (Lightning after 2.6 moved the freeze after
``configure_model``; treadle follows 2.6, which freezes in ``setup``). Tests marked "treadle"
at the end are our own.
"""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
from boring_model import BoringModel, RandomDataset, quiet
from torch import nn
from torch.optim import SGD
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import BackboneFinetuning, BaseFinetuning, ModelCheckpoint


class CheckedBackboneFinetuning(BackboneFinetuning):
    def on_train_epoch_start(self, trainer, pl_module):
        super().on_train_epoch_start(trainer, pl_module)
        epoch = trainer.current_epoch
        if self.unfreeze_backbone_at_epoch <= epoch:
            optimizer = trainer.optimizers[0]
            current_lr = optimizer.param_groups[0]["lr"]
            backbone_lr = self.previous_backbone_lr
            if epoch < 6:
                assert backbone_lr <= current_lr
            else:
                assert backbone_lr == current_lr


def test_finetuning_callback(tmp_path):
    treadle.seed_everything(42)

    class FinetuningBoringModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Linear(32, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU()
            )
            self.layer = torch.nn.Linear(32, 2)
            self.backbone.has_been_used = False

        def forward(self, x):
            self.backbone.has_been_used = True
            return self.layer(self.backbone(x))

        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
            lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
            return [optimizer], [lr_scheduler]

        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 64), batch_size=2)

    model = FinetuningBoringModel()
    callback = CheckedBackboneFinetuning(unfreeze_backbone_at_epoch=3, verbose=False)
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=4, limit_val_batches=0, max_epochs=8),
        callbacks=[callback],
    )
    trainer.fit(model)
    assert model.backbone.has_been_used
    assert len(trainer.optimizers[0].param_groups) == 2
    assert all(p.requires_grad for p in model.backbone.parameters())


class WarningBackboneFinetuning(BackboneFinetuning):
    def finetune_function(self, pl_module, epoch: int, optimizer):
        if epoch == 0:
            self.unfreeze_and_add_param_group(
                pl_module.backbone,
                optimizer,
                0.1,
                train_bn=self.train_bn,
                initial_denom_lr=self.initial_denom_lr,
            )


def test_finetuning_callback_warning(tmp_path):
    treadle.seed_everything(42)

    class FinetuningBoringModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(32, 2, bias=False)
            self.layer = None
            self.backbone.has_been_used = False

        def forward(self, x):
            self.backbone.has_been_used = True
            return self.backbone(x)

        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 64), batch_size=2)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    chk = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    model = FinetuningBoringModel()
    model.validation_step = None
    callback = WarningBackboneFinetuning(unfreeze_backbone_at_epoch=3, verbose=False)
    with pytest.warns(UserWarning, match="Did you init your optimizer in"):
        trainer = treadle.Trainer(
            **quiet(tmp_path, limit_train_batches=1, max_epochs=2, enable_checkpointing=True),
            callbacks=[callback, chk],
        )
        trainer.fit(model)
    assert model.backbone.has_been_used
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=3, limit_train_batches=1))
    trainer.fit(model, ckpt_path=chk.last_model_path)


def test_freeze_unfreeze_function():
    treadle.seed_everything(42)

    class FreezeModel(treadle.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 2)
            )

    model = FreezeModel()
    assert model.backbone[1].track_running_stats
    BaseFinetuning.freeze(model, train_bn=True)
    assert not model.backbone[0].weight.requires_grad
    assert model.backbone[1].weight.requires_grad
    assert model.backbone[1].track_running_stats
    assert not model.backbone[3].weight.requires_grad

    BaseFinetuning.freeze(model, train_bn=False)
    assert not model.backbone[0].weight.requires_grad
    assert not model.backbone[1].weight.requires_grad
    assert not model.backbone[1].track_running_stats
    assert not model.backbone[3].weight.requires_grad

    BaseFinetuning.make_trainable(model)
    assert model.backbone[0].weight.requires_grad
    assert model.backbone[1].weight.requires_grad
    assert model.backbone[1].track_running_stats
    assert model.backbone[3].weight.requires_grad

    BaseFinetuning.freeze(model.backbone[0], train_bn=False)
    assert not model.backbone[0].weight.requires_grad

    BaseFinetuning.freeze(([(model.backbone[1]), [model.backbone[3]]]), train_bn=True)
    assert model.backbone[1].weight.requires_grad
    assert model.backbone[1].track_running_stats
    assert not model.backbone[3].weight.requires_grad


def test_unfreeze_and_add_param_group_function():
    treadle.seed_everything(42)

    class FreezeModel(treadle.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                *[nn.Linear(32, 32, bias=False) for _ in range(5)], nn.BatchNorm1d(32)
            )

    model = FreezeModel()
    optimizer = SGD(model.backbone[0].parameters(), lr=0.01)

    with pytest.warns(UserWarning, match="The provided params to be frozen already"):
        BaseFinetuning.unfreeze_and_add_param_group(model.backbone[0], optimizer=optimizer)
    assert optimizer.param_groups[0]["lr"] == 0.01

    model.backbone[1].weight.requires_grad = False
    BaseFinetuning.unfreeze_and_add_param_group(model.backbone[1], optimizer=optimizer)
    assert len(optimizer.param_groups) == 2
    assert optimizer.param_groups[1]["lr"] == 0.001
    assert torch.equal(optimizer.param_groups[1]["params"][0], model.backbone[1].weight)
    assert model.backbone[1].weight.requires_grad

    with pytest.warns(UserWarning, match="The provided params to be frozen already"):
        BaseFinetuning.unfreeze_and_add_param_group(
            model, optimizer=optimizer, lr=100, train_bn=False
        )
    assert len(optimizer.param_groups) == 3
    assert optimizer.param_groups[2]["lr"] == 100
    assert len(optimizer.param_groups[2]["params"]) == 3
    assert torch.equal(optimizer.param_groups[0]["params"][0], model.backbone[0].weight)
    assert torch.equal(optimizer.param_groups[2]["params"][0], model.backbone[2].weight)
    assert torch.equal(optimizer.param_groups[2]["params"][1], model.backbone[3].weight)
    assert torch.equal(optimizer.param_groups[2]["params"][2], model.backbone[4].weight)


class OnEpochLayerFinetuning(BaseFinetuning):
    def freeze_before_training(self, pl_module):
        self.freeze(pl_module.layer)

    def finetune_function(self, pl_module, epoch, optimizer):
        self.unfreeze_and_add_param_group(pl_module.layer[epoch + 1], optimizer)


class SixLayers(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Linear(32, 32, bias=False),
            nn.Linear(32, 32, bias=True),
            nn.Linear(32, 32, bias=False),
            nn.Linear(32, 32, bias=True),
            nn.Linear(32, 32, bias=False),
            nn.Linear(32, 2, bias=True),
        )

    def forward(self, x):
        return self.layer(x)

    def configure_optimizers(self):
        return torch.optim.SGD(self.layer[0].parameters(), lr=0.1)


def test_base_finetuning_internal_optimizer_metadata(tmp_path):
    treadle.seed_everything(42)
    cb = OnEpochLayerFinetuning()
    chk = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=5, limit_train_batches=1, enable_checkpointing=True),
        callbacks=[cb, chk],
    )
    trainer.fit(SixLayers())
    metadata = cb._internal_optimizer_metadata[0]
    assert len(metadata) == 6
    assert metadata[0]["params"] == ["layer.0.weight"]
    assert metadata[1]["params"] == ["layer.1.weight", "layer.1.bias"]
    assert metadata[2]["params"] == ["layer.2.weight"]
    assert metadata[3]["params"] == ["layer.3.weight", "layer.3.bias"]
    assert metadata[4]["params"] == ["layer.4.weight"]
    assert metadata[5]["params"] == ["layer.5.weight", "layer.5.bias"]

    # resumed: the six groups are rebuilt (the saved optimizer state has six), and epoch 5's
    # finetune_function asks for the seventh layer, which does not exist
    cb = OnEpochLayerFinetuning()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=10, limit_train_batches=1), callbacks=[cb]
    )
    with pytest.raises(IndexError, match="index 6 is out of range"):
        trainer.fit(SixLayers(), ckpt_path=chk.last_model_path)
    assert len(trainer.optimizers[0].param_groups) == 6


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3)
        self.act = nn.ReLU()
        self.bn = nn.BatchNorm2d(out_channels)


class ConvBlockParam(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.module_dict = nn.ModuleDict(
            {"conv": nn.Conv2d(in_channels, out_channels, 3), "act": nn.ReLU()}
        )
        # a parameter of a parent (non-leaf) module
        self.parent_param = nn.Parameter(torch.zeros((1), dtype=torch.float))
        self.bn = nn.BatchNorm2d(out_channels)


def test_complex_nested_model():
    model = nn.Sequential(
        OrderedDict(
            [
                ("encoder", nn.Sequential(ConvBlockParam(3, 64), ConvBlock(64, 128))),
                ("decoder", ConvBlock(128, 10)),
            ]
        )
    )
    # 10 leaf modules or parent modules with parameters of their own
    assert len(BaseFinetuning.flatten_modules(model)) == 10

    BaseFinetuning.freeze(model.encoder, train_bn=True)
    assert not model.encoder[0].module_dict["conv"].weight.requires_grad
    assert not model.encoder[0].parent_param.requires_grad
    assert model.encoder[0].bn.weight.requires_grad

    BaseFinetuning.make_trainable(model)
    encoder_params = list(BaseFinetuning.filter_params(model.encoder, train_bn=True))
    assert len(encoder_params) == 9


class RestoreCallback(BaseFinetuning):
    def freeze_before_training(self, pl_module):
        self.freeze(pl_module.layer[:3])

    def finetune_function(self, pl_module, epoch, optimizer):
        if epoch >= 1:
            self.unfreeze_and_add_param_group(pl_module.layer[epoch - 1], optimizer)


class FinetuningBoringModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 2)
        )

    def configure_optimizers(self):
        return torch.optim.SGD(filter(lambda x: x.requires_grad, self.parameters()), lr=0.1)


def test_callbacks_restore(tmp_path):
    """The callback's groups are rebuilt after the optimizers are re-created, before their
    state is loaded."""
    chk = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    callback = RestoreCallback()
    kwargs = quiet(
        tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=2,
        enable_checkpointing=True,
    )
    trainer = treadle.Trainer(**kwargs, callbacks=[callback, chk])
    model = FinetuningBoringModel()
    trainer.fit(model)

    assert len(callback._internal_optimizer_metadata) == 1  # one optimizer
    assert len(callback._internal_optimizer_metadata[0]) == 2  # two groups
    expected = {
        "lr": 0.1,
        "momentum": 0,
        "dampening": 0,
        "weight_decay": 0,
        "nesterov": False,
        "params": ["layer.3.weight", "layer.3.bias"],
        "maximize": False,
        "foreach": None,
        "differentiable": False,
        "fused": None,
    }
    assert callback._internal_optimizer_metadata[0][0] == expected
    expected = {**expected, "lr": 0.01, "params": ["layer.0.weight", "layer.0.bias"]}
    assert callback._internal_optimizer_metadata[0][1] == expected

    kwargs["max_epochs"] = 3
    callback = RestoreCallback()
    trainer = treadle.Trainer(**kwargs, callbacks=[callback, chk])
    trainer.fit(model, ckpt_path=chk.last_model_path)
    # treadle: the resumed run rebuilt both groups, then added layer 1's at epoch 2
    groups = trainer.optimizers[0].param_groups
    assert [len(g["params"]) for g in groups] == [2, 2, 2]
    assert groups[2]["params"][0] is model.layer[1].weight


class BackboneBoringModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(32, 2)
        self.backbone = nn.Linear(32, 32)

    def forward(self, x):
        return self.layer(self.backbone(x))


def test_callbacks_restore_backbone(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    kwargs = quiet(
        tmp_path,
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=2,
        enable_checkpointing=True,
    )
    trainer = treadle.Trainer(
        **kwargs, callbacks=[ckpt, BackboneFinetuning(unfreeze_backbone_at_epoch=1)]
    )
    trainer.fit(BackboneBoringModel())
    kwargs["max_epochs"] = 3
    callback = BackboneFinetuning(unfreeze_backbone_at_epoch=1)
    trainer = treadle.Trainer(**kwargs, callbacks=callback)
    trainer.fit(BackboneBoringModel(), ckpt_path=ckpt.last_model_path)
    # treadle: the saved backbone rate (0.01) went on (x2), capped at the decayed head's 0.001
    assert callback.previous_backbone_lr == pytest.approx(0.001)


# -- treadle ------------------------------------------------------------------------------------


def test_backbone_finetuning_schedule_of_learning_rates(tmp_path):
    """treadle: the backbone joins at its epoch at ratio x the head's rate, then grows by
    lambda_func and is capped at the head's rate (should_align)."""
    seen = []

    class Record(treadle.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            groups = trainer.optimizers[0].param_groups
            seen.append([round(g["lr"], 6) for g in groups])

    class Model(BackboneBoringModel):
        def configure_optimizers(self):
            return torch.optim.SGD(self.layer.parameters(), lr=0.1)

    model = Model()
    callback = BackboneFinetuning(
        unfreeze_backbone_at_epoch=1, lambda_func=lambda epoch: 3.0, backbone_initial_ratio_lr=0.1
    )
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=1, limit_val_batches=0, max_epochs=4),
        callbacks=[callback, Record()],
    )
    trainer.fit(model)
    assert seen == [[0.1], [0.1, 0.01], [0.1, 0.03], [0.1, 0.09]]


def test_backbone_frozen_before_configure_optimizers(tmp_path):
    """treadle: freeze_before_training runs before configure_optimizers (in setup), so the
    optimizer can be built from the trainable parameters."""

    class Model(BackboneBoringModel):
        def configure_optimizers(self):
            self.trainable = [n for n, p in self.named_parameters() if p.requires_grad]
            return torch.optim.SGD(filter(lambda p: p.requires_grad, self.parameters()), lr=0.1)

    model = Model()
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=1, limit_val_batches=0, max_epochs=1),
        callbacks=[BackboneFinetuning(unfreeze_backbone_at_epoch=5)],
    )
    before = model.backbone.weight.detach().clone()
    trainer.fit(model)
    assert model.trainable == ["layer.weight", "layer.bias"]
    assert torch.equal(model.backbone.weight, before)  # frozen: not trained


def test_backbone_finetuning_without_backbone_is_refused(tmp_path):
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=1, max_epochs=1), callbacks=[BackboneFinetuning()]
    )
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "BackboneFinetuning: the Module (BoringModel) should have a nn.Module `backbone` "
            "attribute: the callback freezes it and unfreezes it at `unfreeze_backbone_at_epoch`. "
            "Name the part to finetune `self.backbone`, or subclass `BaseFinetuning` to choose it "
            "yourself."
        ),
    ):
        trainer.fit(BoringModel())


def test_lightning_submodule_path():
    from treadle.callbacks.finetuning import BackboneFinetuning as Imported

    assert Imported is BackboneFinetuning
