"""``convert_zero_checkpoint_to_fp32_state_dict`` (Lightning's ``utilities.deepspeed``) on the
checkpoint directories treadle's DeepSpeed strategy writes: one process, ZeRO 2 and 3.

The file it writes holds the full fp32 weights and treadle's part of the checkpoint:
``Module.load_from_checkpoint(file)`` rebuilds the trained model (hyper-parameters included)
without DeepSpeed, with exactly the weights ``save_checkpoint(weights_only=True)`` gathers.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

import treadle
from _ds_jobs import run, write

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not treadle.module_available("deepspeed"),
        reason="deepspeed is not installed (pip install treadle[deepspeed])",
    ),
]

JOB = """
import json, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle
from treadle.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

OUT = Path(sys.argv[1])


class Net(treadle.Module):
    def __init__(self, width=8):
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1))

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self.net(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


g = torch.Generator().manual_seed(0)
data = DataLoader(TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)),
                  batch_size=4)
record = {}
for stage in (2, 3):
    trainer = treadle.Trainer(accelerator="cpu", devices=1, strategy=f"deepspeed_stage_{stage}",
                              max_epochs=2, logger=False, enable_progress_bar=False,
                              enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(Net(width=6), data)
    trainer.save_checkpoint(OUT / f"s{stage}.ckpt")
    trainer.save_checkpoint(OUT / f"s{stage}_weights.pt", weights_only=True)
    written = convert_zero_checkpoint_to_fp32_state_dict(OUT / f"s{stage}.ckpt", OUT / f"s{stage}.pt")
    record[stage] = {"keys": sorted(written), "global_step": trainer.global_step}
(OUT / "record.json").write_text(json.dumps(record))
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_convert")
    write(tmp / "job.py", JOB)
    (tmp / "out").mkdir()
    run([sys.executable, "job.py", "out"], cwd=tmp, timeout=300)
    return tmp / "out"


@pytest.mark.parametrize("stage", [2, 3])
def test_the_converted_file_loads_without_deepspeed(converted, stage):
    import torch

    record = json.loads((converted / "record.json").read_text())[str(stage)]
    assert "state_dict" in record["keys"] and "hyper_parameters" in record["keys"]
    assert "deepspeed" not in record["keys"]  # nothing to resume under DeepSpeed from it
    checkpoint = torch.load(converted / f"s{stage}.pt", weights_only=True)
    assert checkpoint["global_step"] == record["global_step"] == 8
    gathered = torch.load(converted / f"s{stage}_weights.pt", weights_only=True)["state_dict"]
    weights = checkpoint["state_dict"]
    assert (
        sorted(weights)
        == sorted(gathered)
        == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    )
    for k, v in gathered.items():
        assert weights[k].dtype == torch.float32
        assert torch.equal(weights[k], v.float()), k

    class Net(treadle.Module):  # the job's Module, rebuilt from the saved hyper-parameters
        def __init__(self, width=8):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(4, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
            )

    model = Net.load_from_checkpoint(converted / f"s{stage}.pt")
    assert model.hparams.width == 6
    assert torch.equal(model.net[0].weight, gathered["net.0.weight"].float())


def test_what_is_not_a_treadle_deepspeed_directory_is_refused(tmp_path, converted):
    from treadle.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict as convert

    with pytest.raises(treadle.CheckpointError, match=re.escape("not a directory: convert_zero")):
        convert(tmp_path / "missing", tmp_path / "out.pt")
    (tmp_path / "file.ckpt").write_bytes(b"")
    with pytest.raises(treadle.CheckpointError, match=re.escape("a one-file checkpoint already")):
        convert(tmp_path / "file.ckpt", tmp_path / "out.pt")
    (tmp_path / "other").mkdir()
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape("the directory has no treadle.ckpt: it is not a complete treadle"),
    ):
        convert(tmp_path / "other", tmp_path / "out.pt")
    with pytest.raises(
        treadle.CheckpointError,
        match=re.escape(
            "it has no `nope/` directory (DeepSpeed's files); its directories: checkpoint."
        ),
    ):
        convert(converted / "s2.ckpt", tmp_path / "out.pt", tag="nope")
    assert not (tmp_path / "out.pt").exists()
