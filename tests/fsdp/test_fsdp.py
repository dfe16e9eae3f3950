"""``strategy="fsdp"`` (torch's FSDP2, ``fully_shard``) for real: 2 processes, gloo, on the CPU.

Every training job runs ``_fsdp_job.py`` in a subprocess (the strategy re-runs it for rank 1, or
torchrun starts the ranks); one job runs several configurations in the same processes. Each run
writes the full weights (gathered at ``on_train_end``), its losses and the bytes it holds.

Parity with one process: 64 samples, ``shuffle=False``, global batch 16 (8 a rank on two ranks).
``DistributedSampler`` gives rank r the samples r, r+2, ..., so the two ranks' batches together
are the single process's batch; each rank's mean loss, averaged by FSDP's reduce-scatter, is the
gradient of the mean over the 16 samples. The tolerance, 1e-6 on the weights after 6 AdamW
steps, is float32 rounding: the two ranks sum their halves in another order than one process
does (measured: 1.6e-7), and AdamW divides by the root of the squared gradients, which keeps
such differences at the scale of lr * 1e-6. Resuming on the same 2 ranks is bitwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from _procs import env, finish, load_module, run, start  # noqa: E402

HERE = Path(__file__).resolve().parent
JOB = HERE / "_fsdp_job.py"
TOL = 1e-6

pytestmark = pytest.mark.slow  # multi-process


def job(out: Path, configs: list[dict], timeout: float = 120) -> str:
    return run([sys.executable, str(JOB), str(out), json.dumps(configs)], out, timeout=timeout)


def rec(out: Path, tag: str, rank: int = 0) -> dict:
    return json.loads((out / f"{tag}.rank{rank}.json").read_text())


def max_diff(a: dict, b: dict) -> float:
    wa, wb = a["weights"], b["weights"]
    assert wa.keys() == wb.keys()
    return max(abs(x - y) for k in wa for x, y in zip(wa[k], wb[k]))


AUTO = {"acc": 2, "clip": 0.5}  # accumulation over 2 batches, clipping by norm at 0.5
MANUAL = {"model": {"manual": True, "acc": 2, "clip": 0.5}}
VAL = {
    "limit_val_batches": 2,
    "max_steps": 4,
}  # one epoch, then validation  # validation through the sharded root
BF16_ACC = {"acc": 2, "precision": "bf16-mixed"}
F16 = {**AUTO, "precision": "16-mixed"}
LBFGS = {"model": {"lbfgs": True, "width": 16, "outputs": 2}, "max_steps": 3}
BIG = {"model": {"width": 256, "blocks": 4}, "max_steps": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """All the training this module checks, in three launches (about 25 s)."""
    out = tmp_path_factory.mktemp("fsdp")
    # One process: the references (no FSDP), and an FSDP run on 1 rank that saves at step 3.
    job(
        out,
        [
            {"tag": "one_auto", "strategy": "auto", "devices": 1, **AUTO},
            {"tag": "one_manual", "strategy": "auto", "devices": 1, **MANUAL},
            {"tag": "one_value", "strategy": "auto", "devices": 1, "clip": 0.01, "algo": "value"},
            {"tag": "one_bf16", "strategy": "auto", "devices": 1, "precision": "bf16-mixed"},
            {"tag": "one_f16", "strategy": "auto", "devices": 1, **F16},
            {"tag": "one_val", "strategy": "auto", "devices": 1, **VAL},
            {"tag": "one_lbfgs", "strategy": "auto", "devices": 1, **LBFGS},
            {"tag": "fsdp1", "devices": 1, **AUTO, "save_every": 3, "ckpt_dir": "ckpt1"},
            # inside an accumulation window (epoch 1, after its first batch), and its resume
            {"tag": "win1", "devices": 1, **AUTO, "save_at": [1, 0, "win1.ckpt"]},
            {"tag": "win1_resumed", "devices": 1, **AUTO, "ckpt": "win1.ckpt"},
        ],
    )
    # Two ranks: parity runs, a mid-epoch save (step 3 of 2 per epoch), resumes 2 -> 2 and
    # 1 -> 2, bf16-mixed, a model built on the meta device, and memory against DDP.
    job(
        out,
        [
            {"tag": "auto", **AUTO, "save_every": 3},
            {"tag": "evaluated", **AUTO, "evaluate": True},  # the next runs take its group over
            {"tag": "first3", **AUTO, "max_steps": 3, "save_every": 3, "ckpt_dir": "ck3"},
            {"tag": "wo", **AUTO, "max_steps": 3, "save_every": 3, "ckpt_dir": "ckwo"}
            | {"weights_only": True},
            {"tag": "last", **AUTO, "save_every": 3, "ckpt_dir": "ck3", "ckpt": "last"},
            {"tag": "manual", **MANUAL},
            {"tag": "recompute", **AUTO, "fsdp": {"checkpoint_blocks": True}},
            {"tag": "no_reshard", **AUTO, "fsdp": {"reshard_after_forward": False}},
            {"tag": "offload", **AUTO, "fsdp": {"cpu_offload": True}},
            {"tag": "value", "clip": 0.01, "algo": "value"},
            {"tag": "bf16", "precision": "bf16-mixed"},
            # saves inside an accumulation window (FSDP holds each rank's unreduced gradients:
            # float32 in place under 32-true, upcast aside under bf16-mixed), and their resumes
            {"tag": "win", **AUTO, "save_at": [1, 0, "win.ckpt"]},
            {"tag": "win_resumed", **AUTO, "ckpt": "win.ckpt"},
            {"tag": "win_bf16", **BF16_ACC, "save_at": [1, 2, "win_bf16.ckpt"]},
            {"tag": "win_bf16_resumed", **BF16_ACC, "ckpt": "win_bf16.ckpt"},
            # 16-mixed: fp16 compute, a grad scaler over sharded gradients; rank 1 alone makes
            # a gradient inf at step 2; manual optimization; a save inside a window
            {"tag": "f16", **F16},
            {"tag": "f16_inf", **F16, "inf_at": 2},
            {"tag": "f16_manual", "precision": "16-mixed", **MANUAL},
            {"tag": "win_f16", **F16, "save_at": [1, 0, "win_f16.ckpt"]},
            {"tag": "win_f16_resumed", **F16, "ckpt": "win_f16.ckpt"},
            {"tag": "resumed", **AUTO, "ckpt": "ckpt/epoch=1-step=3.ckpt"},
            {"tag": "from1", **AUTO, "ckpt": "ckpt1/epoch=1-step=3.ckpt"},
            {"tag": "lbfgs", **LBFGS},
            {"tag": "val", **VAL},
            {"tag": "meta", "model": {"meta": True}, "max_steps": 2},
            {"tag": "big_fsdp", **BIG},
            {"tag": "big_ddp", **BIG, "strategy": "ddp"},
        ],
        timeout=180,
    )
    # One process again: resume the 2-rank checkpoint on 1 rank (DCP reshards); then the
    # 2-rank save inside a window on 1 rank (refused: the run stops there).
    refused = run(
        [
            sys.executable,
            str(JOB),
            str(out),
            json.dumps(
                [
                    {"tag": "to1", "devices": 1, **AUTO, "ckpt": "ckpt/epoch=1-step=3.ckpt"},
                    {"tag": "win_to1", "devices": 1, **AUTO, "ckpt": "win.ckpt"},
                ]
            ),
        ],
        out,
        timeout=120,
        ok=False,
    )
    (out / "win_to1.out").write_text(refused)
    return out


def test_two_ranks_equal_one_process_automatic_with_clipping_and_accumulation(runs):
    two, one = rec(runs, "auto"), rec(runs, "one_auto")
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["global_step"] == one["global_step"] == 6
    assert two["param_types"] == ["DTensor"]  # sharded for real
    assert max_diff(two, one) < TOL
    assert rec(runs, "auto", 1)["weights"] == two["weights"]  # both ranks gathered the same


@pytest.mark.parametrize("tag", ["recompute", "no_reshard", "offload"])
def test_activation_checkpointing_no_resharding_and_cpu_offload_keep_parity(runs, tag):
    assert max_diff(rec(runs, tag), rec(runs, "one_auto")) < TOL


def test_ckpt_path_last_finds_the_newest_checkpoint_directory(runs):
    last = rec(runs, "last")  # resumed from ck3/last.ckpt (step 3), trained to step 6
    assert last["global_step"] == 6 and len(last["losses"]) == 6  # batches 6-11 of 12
    assert last["weights"] == rec(runs, "auto")["weights"]


def test_two_ranks_equal_one_process_manual_with_clipping_and_no_backward_sync(runs):
    assert max_diff(rec(runs, "manual"), rec(runs, "one_manual")) < TOL


def test_clipping_by_value_over_sharded_gradients(runs):
    assert max_diff(rec(runs, "value"), rec(runs, "one_value")) < TOL


def test_lbfgs_runs_sharded_when_every_first_dimension_splits_evenly(runs):
    """The experiment behind the LBFGS rule: with even first dimensions FSDP flattens the
    shards and LBFGS (4 closure evaluations a step) matches one process; uneven ones are
    refused at validation (tests/fsdp/test_fsdp_refusals.py)."""
    two, one = rec(runs, "lbfgs"), rec(runs, "one_lbfgs")
    assert two["global_step"] == one["global_step"] == 3
    assert max_diff(two, one) < 1e-5


def test_validation_runs_through_the_sharded_root(runs):
    two, one = rec(runs, "val"), rec(runs, "one_val")
    assert "val_loss" in two["metrics"]
    assert abs(two["metrics"]["val_loss"] - one["metrics"]["val_loss"]) < 1e-5
    assert max_diff(two, one) < TOL


def test_validate_test_predict_after_fit_run_on_the_sharded_module(runs):
    """``trainer.validate/test/predict`` after ``fit`` on the same Trainer run on both ranks
    with the Module as fit sharded it (DTensors, not sharded again, the process group kept)
    and give what the unsharded model gives: its full weights loaded into a plain ``Net``.
    (The runs after it in the same launch take the kept group over.)"""
    job_module = load_module(JOB, "_fsdp_job")
    x, y = job_module.dataset().tensors
    fitted = rec(runs, "evaluated")
    ranks = [json.loads((runs / f"evaluated.eval.rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["param_types"] == ["DTensor"]
    assert ranks[0]["weights"] == ranks[1]["weights"] == fitted["weights"]
    net = job_module.Net()
    shapes = {n: p.shape for n, p in net.named_parameters()}
    net.load_state_dict(
        {
            n: torch.tensor(v, dtype=torch.float32).view(shapes[n])
            for n, v in fitted["weights"].items()
        }
    )
    with torch.no_grad():
        out = net(x)
        expected_loss = float(torch.nn.functional.mse_loss(out, y))
    for rank, got in enumerate(ranks):
        # rank r predicts samples r, r + 2, ... (DistributedSampler), 4 batches of 8
        predicted = torch.tensor(
            [v for batch in got["predict"] for v in batch], dtype=torch.float64
        )
        assert len(got["predict"]) == 4
        assert torch.allclose(predicted, out[rank::2].double().flatten(), rtol=0, atol=TOL)
        assert abs(got["validate"][0]["val_loss"] - expected_loss) < TOL
        assert abs(got["test"][0]["test_loss"] - expected_loss) < TOL


def test_bf16_mixed_trains_and_the_ranks_agree(runs):
    bf16, one_bf16, fp32 = rec(runs, "bf16"), rec(runs, "one_bf16"), rec(runs, "one_auto")
    r1 = rec(runs, "bf16", 1)
    assert bf16["weights"] == r1["weights"]
    losses = bf16["losses"]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) < sum(losses[:2])  # it learns
    # bf16 compute (MixedPrecisionPolicy) against bf16 autocast in one process: bf16 rounding.
    assert max_diff(bf16, one_bf16) < 2e-2
    assert max_diff(bf16, fp32) > 1e-4  # it did compute in bf16


def test_16_mixed_computes_in_fp16_with_a_grad_scaler_over_the_shards(runs):
    """``MixedPrecisionPolicy(param_dtype=float16, reduce_dtype=float32)`` under the 16-mixed
    plugin's autocast and ``GradScaler``: the gathered parameters are fp16 inside the forward,
    the run stays within fp16 rounding of one process under 16-mixed (4.6e-4 measured after 6
    AdamW steps with clipping and accumulation) and differs from fp32."""
    f16, fp32 = rec(runs, "f16"), rec(runs, "auto")
    assert f16["compute_dtype"] == rec(runs, "f16_manual")["compute_dtype"] == "torch.float16"
    assert fp32["compute_dtype"] == "torch.float32"
    assert f16["global_step"] == rec(runs, "f16_manual")["global_step"] == 6
    assert f16["optimizer_steps"] == [6.0] * len(f16["optimizer_steps"])
    assert max_diff(f16, rec(runs, "one_f16")) < 5e-3
    assert max_diff(f16, fp32) > 1e-4  # it did compute in fp16
    assert max_diff(rec(runs, "f16_manual"), rec(runs, "manual")) < 2e-2


def test_16_mixed_an_inf_gradient_on_one_rank_skips_the_step_on_every_rank(runs):
    """Rank 1 alone makes an element of its gradient shard inf: ``scaler.unscale_`` finds it
    on rank 1's shard and torch's DTensor rule reduces that finding over the ranks, so rank 0
    (whose shard is finite) skips the step too and both halve the scale: 5 optimizer steps of
    6 batches, the same scale on both ranks."""
    for rank in (0, 1):
        hit, clean = rec(runs, "f16_inf", rank), rec(runs, "f16", rank)
        assert hit["global_step"] == 6
        assert hit["optimizer_steps"] == [5.0] * len(hit["optimizer_steps"])
        assert hit["scale"] == clean["scale"] / 2 == 2.0**15


def test_mid_epoch_resume_on_the_same_ranks_is_bitwise(runs):
    resumed, straight = rec(runs, "resumed"), rec(runs, "auto")
    assert resumed["global_step"] == 6
    assert resumed["weights"] == straight["weights"]


def test_a_save_inside_an_accumulation_window_resumes_bitwise(runs):
    """Each rank's unreduced gradients of the window so far are written beside the shards
    (``window_grads.rank{r}.pt``) and put back before the resumed window's next backward: the
    run ends bit for bit as the uninterrupted one, on 1 and 2 ranks, 32-true and bf16-mixed."""
    for saved, resumed, straight in [
        ("win", "win_resumed", "auto"),
        ("win_bf16", "win_bf16_resumed", "win_bf16"),
        ("win_f16", "win_f16_resumed", "f16"),  # the grad scaler's state too
        ("win1", "win1_resumed", "fsdp1"),
    ]:
        ranks = 1 if saved == "win1" else 2
        files = sorted(p.name for p in (runs / f"{saved}.ckpt").glob("window_grads.*"))
        assert files == [f"window_grads.rank{r}.pt" for r in range(ranks)]
        assert rec(runs, resumed)["global_step"] == 6
        for rank in range(ranks):
            assert rec(runs, resumed, rank)["weights"] == rec(runs, straight, rank)["weights"]
    assert rec(runs, "win")["weights"] == rec(runs, "auto")["weights"]  # saving changes nothing
    # each rank's own gradients (its half of the batch), bf16-mixed's upcast to float32
    r0, r1 = (torch.load(runs / "win.ckpt" / f"window_grads.rank{r}.pt") for r in (0, 1))
    assert r0["grads"].keys() == r1["grads"].keys() == rec(runs, "auto")["weights"].keys()
    assert not any(torch.equal(r0["grads"][k], r1["grads"][k]) for k in r0["grads"])
    bf16 = torch.load(runs / "win_bf16.ckpt" / "window_grads.rank0.pt")
    assert set(bf16["accumulated"]) == set(bf16["grads"])
    assert {g.dtype for g in bf16["grads"].values()} == {torch.float32}


def test_a_window_save_on_two_ranks_is_refused_on_one(runs):
    assert rec(runs, "to1")["world_size"] == 1  # (the run before it in that job)
    out = (runs / "win_to1.out").read_text()
    message = (
        "it was saved on 2 ranks inside a gradient accumulation window (each rank's unreduced "
        "gradients of the window are in it) and this run has 1. Resume it on 2 ranks, or "
        "resume from a checkpoint saved outside an accumulation window (after a batch that "
        "steps the optimizer)."
    )
    assert f"checkpoint {str(runs / 'win.ckpt')!r}: {message}" in out, out
    assert not (runs / "win_to1.rank0.json").exists()


@pytest.mark.parametrize("damage", ["misfit", "missing"])
def test_damaged_window_gradients_are_refused(runs, tmp_path, damage):
    """A checkpoint saved inside a window whose ``window_grads.rank0.pt`` does not fit the model,
    or is missing, is refused when the run resumes, naming the file and what is wrong."""
    import shutil

    bad = tmp_path / "bad.ckpt"
    shutil.copytree(runs / "win1.ckpt", bad)
    file = bad / "window_grads.rank0.pt"
    if damage == "missing":
        file.unlink()
        message = (
            f"checkpoint {str(bad)!r}: it was saved inside a gradient accumulation window but "
            f"has no window_grads.rank0.pt (rank 0's gradients of the window): the directory "
            f"is not complete. Resume from another checkpoint."
        )
    else:
        window = torch.load(file)
        window["grads"]["inp.bias"] = torch.zeros(3)
        window["grads"]["head.weight"] = torch.zeros(1)
        torch.save(window, file)
        message = (
            f"checkpoint {str(file)!r}: the gradients of the accumulation window it holds do not "
            f"fit this model: 'inp.bias': (3,), the parameter's shape is (15,); 'head.weight': "
            f"no such parameter. Resume it with the model that saved it, or from a checkpoint "
            f"saved outside an accumulation window."
        )
    cfg = {"tag": "bad", "devices": 1, **AUTO, "ckpt": str(bad)}
    out = run([sys.executable, str(JOB), str(tmp_path), json.dumps([cfg])], tmp_path, ok=False)
    assert message in out, out
    assert not (tmp_path / "bad.rank0.json").exists()


def test_resume_resharded_two_ranks_to_one_and_one_to_two(runs):
    assert rec(runs, "to1")["world_size"] == 1
    assert max_diff(rec(runs, "to1"), rec(runs, "auto")) < TOL
    assert max_diff(rec(runs, "from1"), rec(runs, "fsdp1")) < TOL
    assert max_diff(rec(runs, "fsdp1"), rec(runs, "one_auto")) < TOL


def test_checkpoint_is_a_directory_of_shards_and_last_is_written(runs):
    ckpt = runs / "ckpt" / "epoch=1-step=3.ckpt"
    assert (ckpt / "treadle.ckpt").is_file() and (ckpt / ".metadata").is_file()
    assert sorted(p.name for p in ckpt.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert (runs / "ckpt" / "last.ckpt" / "treadle.ckpt").is_file()
    assert not list((runs / "ckpt").glob(".*.tmp"))  # renamed into place


def test_save_weights_only_writes_one_ordinary_file_of_full_weights(runs):
    path = runs / "ckwo" / "epoch=1-step=3.ckpt"
    assert path.is_file()
    saved = torch.load(path, weights_only=True)
    assert "optimizer_states" not in saved and saved["global_step"] == 3
    expected = rec(runs, "first3")["weights"]  # the same run, stopped at step 3
    assert {k: v.double().flatten().tolist() for k, v in saved["state_dict"].items()} == expected


def test_model_built_on_the_meta_device_is_materialised_sharded(runs):
    meta = rec(runs, "meta")
    assert meta["global_step"] == 2
    assert all(torch.isfinite(torch.tensor(w)).all() for w in meta["weights"].values())
    assert meta["weights"] == rec(runs, "meta", 1)["weights"]


def test_memory_per_rank_is_about_half_of_ddp(runs):
    fsdp = [rec(runs, "big_fsdp", r) for r in (0, 1)]
    ddp = rec(runs, "big_ddp")
    ddp_bytes = ddp["param_bytes"] + ddp["optim_bytes"]
    for r in fsdp:
        ratio = (r["param_bytes"] + r["optim_bytes"]) / ddp_bytes
        assert 0.45 < ratio < 0.55, ratio
    assert sum(r["param_bytes"] for r in fsdp) == ddp["param_bytes"]


def test_consolidate_writes_one_weights_only_file(runs, tmp_path):
    from treadle_plugins.strategies import fsdp

    out = tmp_path / "full.ckpt"
    fsdp.consolidate(runs / "ckpt" / "epoch=2-step=6.ckpt", out)
    full = torch.load(out, weights_only=True)
    assert full["global_step"] == 6
    straight = rec(runs, "auto")["weights"]
    assert full["state_dict"].keys() == straight.keys()
    for name, value in full["state_dict"].items():
        assert value.double().flatten().tolist() == straight[name]
    # The command line does the same.
    cli = tmp_path / "cli.ckpt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "treadle_plugins.strategies.fsdp",
            str(runs / "ckpt" / "last.ckpt"),
            str(cli),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert result.returncode == 0, result.stderr
    assert torch.load(cli, weights_only=True)["state_dict"].keys() == straight.keys()


def test_a_crafted_metadata_file_is_refused_without_running_it(runs, tmp_path):
    import pickle
    import shutil

    from treadle import CheckpointError
    from treadle_plugins.strategies import fsdp

    hostile = tmp_path / "hostile.ckpt"
    shutil.copytree(runs / "ckpt" / "epoch=1-step=3.ckpt", hostile)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (hostile / ".metadata").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            f"checkpoint {str(hostile)!r}: the checkpoint's .metadata names "
            f"`pathlib.Path.touch`, which a torch.distributed.checkpoint metadata file never "
            f"holds; refused (loading it could run code)."
        ),
    ):
        fsdp.consolidate(hostile, tmp_path / "out.ckpt")
    assert not marker.exists()


def test_preemption_saves_a_directory_that_ckpt_path_last_resumes(runs, tmp_path):
    """SIGTERM to rank zero after step 2: the ranks agree on a batch, write
    ``checkpoints/last.ckpt`` (a directory) and exit 143; ``ckpt_path="last"`` then ends equal
    to the uninterrupted run (no accumulation: every batch steps)."""
    value = {"clip": 0.01, "algo": "value"}
    cmd = [sys.executable, str(JOB), str(tmp_path)]
    proc = start([*cmd, json.dumps([{"tag": "pre", **value, "sigterm_at": 2}])], tmp_path)
    out = finish(proc, timeout=120)
    assert proc.returncode == 143, out
    assert (tmp_path / "checkpoints" / "last.ckpt" / "treadle.ckpt").is_file()
    job(tmp_path, [{"tag": "after", **value, "ckpt": "last"}])
    assert rec(tmp_path, "after")["weights"] == rec(runs, "value")["weights"]


# -- multi-node the way clusters run it: two torchrun "nodes" on this machine ------------------------


@pytest.mark.parametrize("strategy", ["fsdp", "ddp"])
def test_two_simulated_nodes_through_torchrun(strategy, tmp_path):
    from treadle_plugins.strategies._launcher import find_free_port

    port = find_free_port("127.0.0.1")
    config = [{"tag": strategy, "strategy": strategy, "devices": 1, "num_nodes": 2, **AUTO}]
    nodes = [
        start(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--node_rank",
                str(node),
                "--nproc_per_node",
                "1",
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                str(port),
                str(JOB),
                str(tmp_path),
                json.dumps(config),
            ],
            tmp_path,
        )
        for node in (0, 1)
    ]
    outs = [finish(p, timeout=120) for p in nodes]
    for p, out in zip(nodes, outs):
        assert p.returncode == 0, out
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    mod = load_module(JOB, "fsdp_job_ref")
    mod.fit(ref_dir, {"tag": "one", "strategy": "auto", "devices": 1, **AUTO})
    two, one = rec(tmp_path, strategy), rec(ref_dir, "one")
    assert two["world_size"] == 2
    assert max_diff(two, one) < TOL
    assert rec(tmp_path, strategy, 1)["weights"] == two["weights"]
