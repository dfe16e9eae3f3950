# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/optimization/test_manual_optimization.py
#   (test_multiple_optimizers_manual_call_counts, test_manual_optimization_and_return_tensor-style
#    single optimizer with toggle_optimizer, test_step_with_optimizer_closure)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; the mock.patch.object(Strategy, "backward") call count -> a counter in
#   on_after_backward (called once per backward); `grad == 0` checks -> `grad is None` (torch 2's
#   zero_grad sets gradients to None, as the current test does); the closure's losses taken against
#   BoringModel's default target, so the step changes the weights (no dropout here: the
#   `losses[0] != losses[1]` check dropped).
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class ManualOptModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.backward_calls = 0

    def on_after_backward(self):
        self.backward_calls += 1

    def training_step(self, batch, batch_idx):
        opt_a, opt_b = self.optimizers()

        # make sure there are no grads
        if batch_idx > 0:
            assert self.layer.weight.grad is None

        loss_1 = self.step(batch[0])
        self.manual_backward(loss_1)
        opt_a.step()
        opt_a.zero_grad()
        assert self.layer.weight.grad is None

        loss_2 = self.step(batch[0])
        # ensure we forward the correct params to the optimizer
        # without retain_graph we can't do multiple backward passes
        self.manual_backward(loss_2, retain_graph=True)
        self.manual_backward(loss_2)
        assert self.layer.weight.grad is not None
        opt_b.step()
        opt_b.zero_grad()
        assert self.layer.weight.grad is None

        return loss_2

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
        optimizer_2 = torch.optim.SGD(self.layer.parameters(), lr=0.1)
        return optimizer, optimizer_2


def test_multiple_optimizers_manual_call_counts(tmp_path):
    model = ManualOptModel()
    limit_train_batches = 2
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=limit_train_batches,
        limit_val_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
        enable_model_summary=False,
    )
    trainer.fit(model)
    assert model.backward_calls == limit_train_batches * 3
    assert trainer.global_step == limit_train_batches * 2


def test_step_with_optimizer_closure(tmp_path):
    """Tests that `step` works with optimizer_closure."""

    class TestModel(BoringModel):
        _losses = []

        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            # manual
            opt = self.optimizers()
            x = batch[0]
            loss_1 = self.loss(self(x))

            def optimizer_closure():
                # emulate bayesian optimization.
                num_backward = 2
                losses = []
                for backward_idx in range(num_backward):
                    loss = self.loss(self(x))
                    losses.append(loss)
                    retain_graph = (num_backward - 1) != backward_idx
                    self.manual_backward(loss, retain_graph=retain_graph)
                # emulate MC dropout training
                loss = torch.stack(losses).mean()
                self._losses.append(loss)
                self.log("train_loss", loss, on_step=True, prog_bar=True, on_epoch=True)

            weight_before = self.layer.weight.clone()

            opt.step(closure=optimizer_closure)
            opt.zero_grad()

            weight_after = self.layer.weight.clone()
            assert not torch.equal(weight_before, weight_after)

        def configure_optimizers(self):
            return torch.optim.SGD(self.layer.parameters(), lr=0.1)

    model = TestModel()
    model.val_dataloader = None

    limit_train_batches = 2
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=limit_train_batches,
        limit_val_batches=2,
        max_epochs=1,
        log_every_n_steps=1,
    )
    trainer.fit(model)
    assert trainer.progress_bar_metrics["train_loss_step"] == model._losses[-1]
    assert trainer.progress_bar_metrics["train_loss_epoch"] == torch.stack(model._losses).mean()


def test_toggle_untoggle(tmp_path):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False
            self.other = torch.nn.Linear(32, 2)

        def training_step(self, batch, batch_idx):
            opt1, opt2 = self.optimizers()
            self.toggle_optimizer(opt1)
            assert all(p.requires_grad for p in self.layer.parameters())
            assert not any(p.requires_grad for p in self.other.parameters())
            loss = self.step(batch)
            opt1.zero_grad()
            self.manual_backward(loss)
            opt1.step()
            self.untoggle_optimizer(opt1)
            assert all(p.requires_grad for p in self.other.parameters())
            self.toggle_optimizer(opt2)
            loss2 = self.loss(self.other(batch))
            opt2.zero_grad()
            self.manual_backward(loss2)
            opt2.step()
            self.untoggle_optimizer(opt2)

        def configure_optimizers(self):
            return [torch.optim.SGD(self.layer.parameters(), lr=0.1), torch.optim.SGD(self.other.parameters(), lr=0.1)]

    trainer = Trainer(default_root_dir=tmp_path, limit_train_batches=3, limit_val_batches=1, max_epochs=1)
    trainer.fit(TestModel())
    assert trainer.global_step == 6


if __name__ == "__main__":
    for fn in (test_multiple_optimizers_manual_call_counts, test_step_with_optimizer_closure, test_toggle_untoggle):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    print("OK")
