"""The ``cuda`` accelerator.

The GPU tests (marked ``gpu``) run for real wherever CUDA is available and are skipped with a
reason elsewhere. The device-parsing and batch-transfer tests run everywhere: they exercise the
plugin's own code (device counts are pinned with ``monkeypatch`` so the messages are fixed).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import RegressionModule, make_loader, make_trainer, mlp
from treadle_plugins.accelerators.cuda import CUDAAccelerator, parse_cuda_devices

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# ---------------------------------------------------------------------------------------------
# Everywhere: devices=, transfer
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.mark.parametrize(
    "devices, ids",
    [("auto", [0]), (1, [0]), (2, [0, 1]), ("2", [0, 1]), ([1], [1]), ([1, 0], [1, 0])],
)
def test_devices_select_gpu_indices(two_gpus, devices, ids):
    assert parse_cuda_devices(devices) == ids


@pytest.mark.parametrize(
    "devices, message",
    [
        (
            3,
            "cuda: `devices=3` asks for 3 GPUs, but 2 are visible. Pass devices<=2, or check "
            "CUDA_VISIBLE_DEVICES.",
        ),
        (
            [0, 2],
            "cuda: `devices=[0, 2]`: every index must be unique and in 0..1 (2 GPUs visible).",
        ),
        (
            [1, 1],
            "cuda: `devices=[1, 1]`: every index must be unique and in 0..1 (2 GPUs visible).",
        ),
        (
            "0,1",
            "cuda: `devices='0,1'` is not understood. Pass a number of GPUs (devices=2), a list "
            "of GPU indices (devices=[0, 2]) or 'auto' (one GPU).",
        ),
        (
            0,
            "cuda: `devices=0` is not understood. Pass a number of GPUs (devices=2), a list of GPU "
            "indices (devices=[0, 2]) or 'auto' (one GPU).",
        ),
    ],
)
def test_bad_devices_are_configuration_errors(two_gpus, devices, message):
    with pytest.raises(treadle.ConfigurationError, match=re.escape(message)):
        parse_cuda_devices(devices)


def test_root_device_follows_local_rank(two_gpus):
    trainer = SimpleNamespace(config=SimpleNamespace(devices=[1, 0]), local_rank=0)
    accelerator = CUDAAccelerator(trainer)
    assert accelerator.root_device == torch.device("cuda", 1)
    trainer.local_rank = 1
    assert accelerator.root_device == torch.device("cuda", 0)


@dataclasses.dataclass
class Sample:
    x: torch.Tensor
    label: str


class HasTo:
    def __init__(self):
        self.moved_to = None

    def to(self, device):
        self.moved_to = device
        return self


def test_transfer_handles_nested_batches():
    batch = {
        "a": [torch.ones(2), (torch.zeros(1), Sample(torch.ones(3), "s"))],
        "o": HasTo(),
        "n": 3,
    }
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    moved = CUDAAccelerator.transfer_batch_to_device(None, batch, device)
    assert moved["a"][0].device == device and moved["a"][1][0].device == device
    assert isinstance(moved["a"][1], tuple) and moved["a"][1][1].x.device == device
    assert moved["a"][1][1].label == "s" and moved["n"] == 3
    assert moved["o"].moved_to == device


# ---------------------------------------------------------------------------------------------
# On a GPU, for real
# ---------------------------------------------------------------------------------------------


def _plain(net, loader, device, precision, epochs=2):
    net = copy.deepcopy(net).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    dtype = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.mse_loss(net(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    return net


class Probe(RegressionModule):
    def __init__(self, net):
        super().__init__(net, lr=0.1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.seen.append((x.device, out.dtype, torch.backends.cudnn.deterministic))
        return F.mse_loss(out, y)


@pytest.mark.parametrize(
    "precision, dtype",
    [("32-true", torch.float32), ("16-mixed", torch.float16), ("bf16-mixed", torch.bfloat16)],
)
@pytest.mark.gpu
@needs_cuda
def test_cuda_training_matches_a_plain_cuda_loop(tmp_path, precision, dtype):
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    net = mlp(hidden=32)
    loader = make_loader(6)
    model = Probe(net)
    trainer = make_trainer(
        tmp_path, accelerator="cuda", devices=1, precision=precision, max_epochs=2
    )
    trainer.fit(model, loader)
    device = torch.device("cuda", 0)
    assert trainer.global_step == 12
    assert all(p.device == device for p in model.parameters())
    assert {s[:2] for s in model.seen} == {(device, dtype)}
    if precision == "16-mixed":
        assert trainer.precision_plugin.scaler._scale.device == device
    ref = _plain(net, loader, device, precision)
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_cuda
def test_set_device_pin_memory_and_deterministic_flags(tmp_path):
    last = torch.cuda.device_count() - 1
    loader = torch.utils.data.DataLoader(make_loader(2).dataset, batch_size=8, num_workers=1)
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    model = Probe(mlp())
    trainer = make_trainer(tmp_path, accelerator="cuda", devices=[last], deterministic=True)
    trainer.fit(model, loader)
    assert trainer.root_device == torch.device("cuda", last)
    assert torch.cuda.current_device() == last
    assert loader.pin_memory is True
    assert {s[2] for s in model.seen} == {True}  # cudnn.deterministic during training
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == before


@pytest.mark.gpu
@needs_cuda
def test_cuda_16_mixed_checkpoint_round_trip(tmp_path):
    trainer = make_trainer(tmp_path, accelerator="cuda", precision="16-mixed", max_epochs=1)
    trainer.fit(RegressionModule(mlp()), make_loader(4))
    path = tmp_path / "amp.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["grad_scaler"]
    assert state == trainer.precision_plugin.scaler.state_dict()
    resumed = make_trainer(tmp_path, accelerator="cuda", precision="16-mixed", max_epochs=2)
    resumed.fit(RegressionModule(mlp()), make_loader(4), ckpt_path=str(path))
    assert resumed.global_step == 8
