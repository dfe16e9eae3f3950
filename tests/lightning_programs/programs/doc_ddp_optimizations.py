# Source: https://lightning.ai/docs/pytorch/stable/advanced/ddp_optimizations.html
#   (pytorch-lightning docs/source-pytorch/advanced/ddp_optimizations.rst; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits: MyModel a small linear model on random tensors; `devices=4`/`accelerator="gpu"` ->
#   `accelerator="cpu", devices=2` (gloo); `max_steps=2`; the strategy's settings read back in
#   `on_fit_start` (`trainer.strategy.model`, the DistributedDataParallel) and the processes'
#   weights compared in `on_train_end` (`self.all_gather`). Run: `gradient_as_bucket_view=True`,
#   `static_graph=True`, `ddp_comm_hook=default.fp16_compress_hook` (it runs; its calls are not
#   asserted: on CPU Lightning 2.6.6 does not register the hook, treadle does). Left out: the
#   NCCL variables (NCCL, GPU), PowerSGD, the fp16 wrapper and post-localSGD (multi-node GPU
#   throughput; on CPU Lightning would not register them).
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.strategies import DDPStrategy
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks as default
from torch.utils.data import DataLoader, TensorDataset


class MyModel(LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(8, 1)
        self.ddp = {}

    def on_fit_start(self):
        ddp = self.trainer.strategy.model  # (not kept: it holds this module)
        assert isinstance(ddp, torch.nn.parallel.DistributedDataParallel), ddp
        self.ddp = {"gradient_as_bucket_view": ddp.gradient_as_bucket_view, "static_graph": ddp.static_graph}

    def on_train_end(self):
        weights = self.all_gather(self.layer.weight.detach())
        self.same_weights = torch.allclose(weights[0], weights[1])

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


def fit(strategy):
    model = MyModel()
    trainer = Trainer(accelerator="cpu", devices=2, strategy=strategy, max_steps=2, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model)
    assert trainer.global_step == 2 and trainer.world_size == 2
    assert model.same_weights
    return model


if __name__ == "__main__":
    model = fit(DDPStrategy(gradient_as_bucket_view=True))
    assert model.ddp == {"gradient_as_bucket_view": True, "static_graph": False}, model.ddp
    model = fit(DDPStrategy(static_graph=True))
    assert model.ddp == {"gradient_as_bucket_view": False, "static_graph": True}, model.ddp
    model = fit(DDPStrategy(ddp_comm_hook=default.fp16_compress_hook))
    print("ddp optimizations: ok")
