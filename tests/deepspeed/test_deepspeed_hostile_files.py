"""DeepSpeed checkpoint directories load without executing code, and bad ones name the file.

DeepSpeed reads its shards with ``torch.load(weights_only=False)``; treadle's DeepSpeed strategy
holds every ``torch.load`` of its load to ``weights_only=True`` (allowing by name the few plain
DeepSpeed classes the shards hold). A ``__reduce__`` payload written into the model states, the
optimizer states or ``treadle.ckpt`` never runs, on ``fit(ckpt_path=)`` and on
``validate(ckpt_path=)`` (ZeRO 3's ``zero_to_fp32`` included), and the error names the file.
One process on the CPU (DeepSpeed's gloo backend), ZeRO stages 2 and 3, in a subprocess.
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
import json, shutil, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import treadle

OUT = Path(sys.argv[1])
results = {}


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


class Net(treadle.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(4, 1)
        self.steps = 0

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return F.mse_loss(self.net(batch[0]).float(), batch[1].float())

    def validation_step(self, batch, batch_idx):
        self.steps += 1
        self.log("val_loss", F.mse_loss(self.net(batch[0]).float(), batch[1].float()))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def data():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)),
                      batch_size=4)


def trainer(stage, epochs=1):
    return treadle.Trainer(accelerator="cpu", devices=1, strategy=f"deepspeed_stage_{stage}",
                           max_epochs=epochs, logger=False, enable_progress_bar=False,
                           enable_checkpointing=False, num_sanity_val_steps=0)


def hostile(src, name, inner, marker):
    dst = Path(name)
    shutil.copytree(src, dst)
    state = torch.load(dst / inner, weights_only=False)  # our own file: trusted here
    state["payload"] = Payload(marker)
    torch.save(state, dst / inner)
    return dst


def attempt(case, run_it):
    model = Net()
    try:
        run_it(model)
        results[case] = "loaded"
    except treadle.CheckpointError as exc:
        results[case] = str(exc)
    results[case + "_steps"] = model.steps


for stage, optim in ((2, "zero_pp_rank_0_mp_rank_00_optim_states.pt"),
                     (3, "zero_pp_rank_0_mp_rank_00_optim_states.pt")):
    model_file = "mp_rank_00_model_states.pt" if stage < 3 else "zero_pp_rank_0_mp_rank_00_model_states.pt"
    t = trainer(stage)
    t.fit(Net(), data())
    good = Path(f"s{stage}.ckpt")
    t.save_checkpoint(good)
    resumed = trainer(stage, epochs=2)
    resumed.fit(Net(), data(), ckpt_path=good)  # the real files load under weights_only
    results[f"s{stage}_resumed_step"] = resumed.global_step
    results[f"s{stage}_validated"] = trainer(stage).validate(Net(), data(), ckpt_path=good)[0]["val_loss"]

    for part, inner in (("model", f"checkpoint/{model_file}"), ("optim", f"checkpoint/{optim}"),
                        ("treadle", "treadle.ckpt")):
        marker = OUT / f"ran_s{stage}_{part}"
        path = hostile(good, f"s{stage}_{part}.ckpt", inner, marker)
        attempt(f"s{stage}_{part}_fit", lambda m: trainer(stage, 2).fit(m, data(), ckpt_path=path))
        attempt(f"s{stage}_{part}_validate",
                lambda m: trainer(stage).validate(m, data(), ckpt_path=path))
        results[f"s{stage}_{part}_ran"] = marker.exists()

    cut = Path(f"s{stage}_cut.ckpt")
    shutil.copytree(good, cut)
    whole = (cut / "checkpoint" / model_file).read_bytes()
    (cut / "checkpoint" / model_file).write_bytes(whole[: len(whole) // 2])
    attempt(f"s{stage}_cut_fit", lambda m: trainer(stage, 2).fit(m, data(), ckpt_path=cut))

    partial = Path(f"s{stage}_partial.ckpt")
    shutil.copytree(good, partial)
    (partial / "treadle.ckpt").unlink()
    attempt(f"s{stage}_partial_fit", lambda m: trainer(stage, 2).fit(m, data(), ckpt_path=partial))

control = hostile("s2.ckpt", "control.ckpt", "checkpoint/mp_rank_00_model_states.pt",
                  OUT / "ran_control")
torch.load(control / "checkpoint/mp_rank_00_model_states.pt", weights_only=False)
results["control_ran"] = (OUT / "ran_control").exists()
attempt("missing_fit", lambda m: trainer(2, 2).fit(m, data(), ckpt_path="nowhere.ckpt"))
(OUT / "results.json").write_text(json.dumps(results))
"""

HOSTILE = (
    "loading it would construct or call Python objects that are not tensors or plain "
    "containers (builtins.exec), so it was not loaded: treadle reads checkpoints with "
    "`torch.load(weights_only=True)` and never runs code from a file."
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds_hostile")
    write(tmp / "job.py", JOB)
    (tmp / "out").mkdir()
    run([sys.executable, "job.py", "out"], cwd=tmp, timeout=300)
    return json.loads((tmp / "out" / "results.json").read_text())


def _pinned(message: str, expected: str) -> None:
    assert re.match(re.escape(expected), message), message


def test_the_payload_runs_when_a_shard_is_unpickled_as_deepspeed_does(results):
    """The control: ``torch.load(weights_only=False)``, DeepSpeed's own call, runs it."""
    assert results["control_ran"] is True


@pytest.mark.parametrize("stage", [2, 3])
def test_real_deepspeed_files_load_with_weights_only(results, stage):
    assert results[f"s{stage}_resumed_step"] == 4
    assert isinstance(results[f"s{stage}_validated"], float)


@pytest.mark.parametrize("stage", [2, 3])
@pytest.mark.parametrize("entry", ["fit", "validate"])
@pytest.mark.parametrize(
    "part, inner",
    [
        ("model", "checkpoint/{model}"),
        ("optim", "checkpoint/zero_pp_rank_0_mp_rank_00_optim_states.pt"),
        ("treadle", "treadle.ckpt"),
    ],
)
def test_a_payload_in_any_file_never_runs_and_the_error_names_the_file(
    results, stage, entry, part, inner
):
    model = (
        "mp_rank_00_model_states.pt" if stage < 3 else "zero_pp_rank_0_mp_rank_00_model_states.pt"
    )
    if entry == "validate" and part == "optim" and stage < 3:
        # stages 0-2 validate from the model states alone: the optimizer file is not read
        assert results[f"s{stage}_{part}_{entry}"] == "loaded"
    else:
        path = f"s{stage}_{part}.ckpt/" + inner.format(model=model)
        _pinned(results[f"s{stage}_{part}_{entry}"], f"checkpoint {path!r}: {HOSTILE}")
        assert results[f"s{stage}_{part}_{entry}_steps"] == 0
    assert results[f"s{stage}_{part}_ran"] is False


@pytest.mark.parametrize("stage", [2, 3])
def test_a_truncated_shard_is_named(results, stage):
    model = (
        "mp_rank_00_model_states.pt" if stage < 3 else "zero_pp_rank_0_mp_rank_00_model_states.pt"
    )
    _pinned(
        results[f"s{stage}_cut_fit"],
        f"checkpoint 's{stage}_cut.ckpt/checkpoint/{model}': it is truncated or corrupt: ",
    )
    assert results[f"s{stage}_cut_fit_steps"] == 0


@pytest.mark.parametrize("stage", [2, 3])
def test_a_directory_without_treadle_ckpt_is_incomplete(results, stage):
    assert results[f"s{stage}_partial_fit"] == (
        f"checkpoint 's{stage}_partial.ckpt': the directory has no treadle.ckpt: it is not a "
        f"complete treadle DeepSpeed checkpoint (treadle writes treadle.ckpt last, so a save "
        f"that did not finish has none). Resume from an earlier checkpoint."
    )


def test_a_missing_directory_is_named(results):
    assert results["missing_fit"] == "checkpoint 'nowhere.ckpt': no such directory."
    assert results["missing_fit_steps"] == 0
