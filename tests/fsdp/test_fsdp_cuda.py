"""``strategy="fsdp"`` with ``precision="16-mixed"`` on CUDA GPUs (NCCL): one rank, and two
ranks (one GPU each). The same runs on the CPU (gloo) are in ``test_fsdp.py``; these check that
the fp16 policy and the grad scaler (``torch.amp.GradScaler("cuda")``) do the same on GPUs.
Skipped without CUDA, the 2-rank test on fewer than 2 GPUs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from _procs import run  # noqa: E402

JOB = Path(__file__).resolve().parent / "_fsdp_job.py"
F16 = {"acc": 2, "clip": 0.5, "precision": "16-mixed"}

pytestmark = [
    pytest.mark.slow,  # multi-process
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU: FSDP 16-mixed on GPUs (the CPU runs are in test_fsdp.py)",
    ),
]


def job(out: Path, configs: list[dict]) -> None:
    run([sys.executable, str(JOB), str(out), json.dumps(configs)], out, timeout=300)


def rec(out: Path, tag: str, rank: int = 0) -> dict:
    return json.loads((out / f"{tag}.rank{rank}.json").read_text())


def max_diff(a: dict, b: dict) -> float:
    wa, wb = a["weights"], b["weights"]
    return max(abs(x - y) for k in wa for x, y in zip(wa[k], wb[k]))


def test_16_mixed_on_one_gpu(tmp_path):
    job(
        tmp_path,
        [
            {"tag": "plain", "strategy": "auto", "devices": 1, **F16},
            {"tag": "fsdp", "devices": 1, **F16},
            {"tag": "fp32", "devices": 1, "acc": 2, "clip": 0.5},
        ],
    )
    fsdp = rec(tmp_path, "fsdp")
    assert fsdp["device"].startswith("cuda") and fsdp["compute_dtype"] == "torch.float16"
    assert fsdp["global_step"] == 6 and fsdp["scale"] == 2.0**16
    assert max_diff(fsdp, rec(tmp_path, "plain")) < 5e-3
    assert max_diff(fsdp, rec(tmp_path, "fp32")) > 1e-4


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs (one a rank)")
def test_16_mixed_on_two_gpus_skips_an_inf_step_on_every_rank(tmp_path):
    job(
        tmp_path,
        [
            {"tag": "f16", **F16},
            {"tag": "f16_inf", **F16, "inf_at": 2},
            {"tag": "win", **F16, "save_at": [1, 0, "win.ckpt"]},
            {"tag": "win_resumed", **F16, "ckpt": "win.ckpt"},
        ],
    )
    for rank in (0, 1):
        f16, hit = rec(tmp_path, "f16", rank), rec(tmp_path, "f16_inf", rank)
        assert f16["device"] == f"cuda:{rank}" and f16["compute_dtype"] == "torch.float16"
        assert f16["optimizer_steps"] == [6.0] * len(f16["optimizer_steps"])
        assert hit["optimizer_steps"] == [5.0] * len(hit["optimizer_steps"])
        assert hit["scale"] == f16["scale"] / 2
        resumed = rec(tmp_path, "win_resumed", rank)
        assert resumed["weights"] == f16["weights"]  # bit for bit
