"""``is_shared_filesystem`` (``lightning.fabric.utilities.distributed``'s, at
``treadle.fabric.utilities.distributed``) on two real gloo ranks under torchrun."""

from __future__ import annotations

import pytest

from _procs import TORCHRUN, run


@pytest.mark.slow  # two processes
def test_is_shared_filesystem_on_two_gloo_ranks(tmp_path):
    script = tmp_path / "shared.py"
    script.write_text(
        "import os, sys, torch.distributed as dist\n"
        "from treadle.fabric.utilities.distributed import is_shared_filesystem\n"
        "dist.init_process_group('gloo')\n"
        "rank = dist.get_rank()\n"
        "shared = is_shared_filesystem(None, sys.argv[1])\n"
        "own = os.path.join(sys.argv[1], f'rank{rank}')\n"
        "os.makedirs(own, exist_ok=True)\n"
        "apart = is_shared_filesystem(None, own)  # a different folder on each rank\n"
        "print(f'rank {rank}: {shared} {apart}', flush=True)\n"
        "dist.destroy_process_group()\n"
    )
    out = run([*TORCHRUN, str(script), str(tmp_path)], tmp_path, timeout=120)
    assert "rank 0: True False" in out and "rank 1: True False" in out, out
    assert not (tmp_path / ".treadle_shared_fs_check").exists()
