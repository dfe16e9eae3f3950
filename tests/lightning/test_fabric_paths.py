"""``lightning.fabric``'s utility paths under treadle's names (``treadle.fabric...``).

Lightning's tests and programs import helpers from Fabric's paths even when they use only the
Trainer (``lightning.fabric.utilities.warnings.PossibleUserWarning``, ``...seed.seed_everything``,
``...plugins.environments.SLURMEnvironment``). The expected values are Lightning 2.6.6's on the
same calls (run on ``/work/lvenv``); treadle has no ``Fabric`` class and says so.
"""

from __future__ import annotations

import collections
import dataclasses
import subprocess
import sys
import warnings

import pytest
import torch
from torch.utils.data import SequentialSampler

import treadle


def test_fabric_paths_hold_the_names_lightning_programs_import():
    from treadle.fabric import seed_everything as top_seed
    from treadle.fabric.accelerators.cuda import find_usable_cuda_devices
    from treadle.fabric.loggers import CSVLogger
    from treadle.fabric.loggers.tensorboard import TensorBoardLogger
    from treadle.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
    from treadle.fabric.plugins.environments.slurm import SLURMEnvironment as slurm_path
    from treadle.fabric.plugins.io.torch_io import TorchCheckpointIO
    from treadle.fabric.utilities.exceptions import MisconfigurationException
    from treadle.fabric.utilities.seed import seed_everything
    from treadle.fabric.utilities.spike import TrainingSpikeException
    from treadle.fabric.utilities.warnings import PossibleUserWarning

    assert top_seed is seed_everything is treadle.seed_everything
    assert PossibleUserWarning is treadle.utilities.PossibleUserWarning
    assert MisconfigurationException is treadle.utilities.MisconfigurationException
    assert TrainingSpikeException is treadle.TrainingSpikeException
    assert SLURMEnvironment is slurm_path
    assert CSVLogger is treadle.loggers.CSVLogger
    assert TensorBoardLogger is treadle.loggers.TensorBoardLogger
    assert callable(find_usable_cuda_devices)
    assert LightningEnvironment and TorchCheckpointIO


def test_importing_treadle_loads_no_fabric_path():
    code = "import sys, treadle; print(any('_lightning_fabric' in m or '.fabric' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fabric_class_is_refused_with_the_treadle_way():
    with pytest.raises(ImportError, match="no `Fabric`.*manual optimization"):
        from treadle.fabric import Fabric  # noqa: F401


@dataclasses.dataclass
class _Pair:
    x: torch.Tensor
    tag: str = "a"


def test_apply_to_collection_keeps_the_structure():
    from treadle.fabric.utilities.apply_func import apply_to_collection

    Point = collections.namedtuple("Point", "a b")
    data = {
        "a": [torch.tensor(1.0), (2, torch.tensor(3))],
        "b": collections.OrderedDict(c=torch.tensor(4)),
        "p": Point(torch.tensor(5), "s"),
        "d": _Pair(torch.tensor(6)),
    }
    out = apply_to_collection(data, torch.Tensor, lambda t: t * 10)
    # Lightning 2.6.6 gives the same values and types
    assert out["a"][0].item() == 10 and out["a"][1][0] == 2 and out["a"][1][1].item() == 30
    assert type(out["b"]) is collections.OrderedDict and out["b"]["c"].item() == 40
    assert type(out["p"]) is Point and out["p"].a.item() == 50 and out["p"].b == "s"
    assert isinstance(out["d"], _Pair) and out["d"].x.item() == 60 and data["d"].x.item() == 6
    dropped = apply_to_collection([1, "x", 2], int, lambda v: None, include_none=False)
    assert dropped == ["x"]
    assert apply_to_collection(True, int, lambda v: 0, wrong_dtype=bool) is True


def test_scalars_seed_messages_and_loading(tmp_path):
    from treadle.fabric.utilities import rank_zero
    from treadle.fabric.utilities.apply_func import convert_tensors_to_scalars
    from treadle.fabric.utilities.cloud_io import _load, get_filesystem
    from treadle.fabric.utilities.data import has_len
    from treadle.fabric.utilities.seed import reset_seed

    assert convert_tensors_to_scalars({"x": torch.tensor(2.5)}) == {"x": 2.5}
    with pytest.raises(ValueError, match="does not contain a single element"):
        convert_tensors_to_scalars(torch.ones(2))
    assert rank_zero.rank_prefixed_message("hi", 1) == "[rank: 1] hi"
    assert rank_zero.rank_prefixed_message("hi", None) == "hi"
    assert has_len([1]) and not has_len(iter([1]))
    with pytest.warns(UserWarning, match="returned 0 length"):
        assert has_len([])
    treadle.seed_everything(7, verbose=False)
    first = torch.rand(3)
    torch.rand(5)
    reset_seed()  # the seed seed_everything left in the environment
    assert torch.equal(torch.rand(3), first)
    torch.save({"a": 1}, tmp_path / "x.pt")
    assert _load(tmp_path / "x.pt") == {"a": 1}
    assert type(get_filesystem(tmp_path)).__name__ == "LocalFileSystem"


def test_worker_init_function_gives_each_worker_and_rank_its_own_numbers():
    from treadle.fabric.utilities.seed import pl_worker_init_function

    def draws(worker_id, rank):
        torch.manual_seed(100 + worker_id)  # what torch does in a worker: base seed + id
        pl_worker_init_function(worker_id, rank=rank)
        return torch.rand(2).tolist()

    seen = {(w, r): draws(w, r) for w in (0, 1) for r in (0, 1)}
    assert len({tuple(v) for v in seen.values()}) == 4
    assert draws(1, 1) == seen[(1, 1)]  # deterministic


def test_one_process_filesystem_is_shared_and_the_sampler_wrapper_splits():
    from treadle.fabric.utilities.distributed import (
        DistributedSamplerWrapper,
        is_shared_filesystem,
    )

    assert is_shared_filesystem(None) and is_shared_filesystem(None, "s3://bucket/x")
    assert treadle.utilities.is_shared_filesystem(None)
    wrapped = [
        list(
            DistributedSamplerWrapper(
                SequentialSampler(range(10)), num_replicas=2, rank=r, shuffle=False
            )
        )
        for r in (0, 1)
    ]
    assert wrapped == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]  # Lightning 2.6.6's


def test_lightning_utilities_names_is_shared_filesystem():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "is_shared_filesystem" in dir(treadle.utilities)


def test_fabric_import_flags_seed_bounds_and_cuda_count():
    """``lightning.fabric.utilities.imports``' flags, which Lightning's tests branch on
    (``if _TORCH_GREATER_EQUAL_2_4``, ``skipif(_IS_WINDOWS)``), the seed range of
    ``...utilities.seed`` and ``...accelerators.cuda``'s device count, with Lightning 2.6.6's
    values on this install (torch 2.13, torchmetrics 1.x, Linux, no CUDA)."""
    import platform

    from treadle.fabric.accelerators.cuda import is_cuda_available, num_cuda_devices
    from treadle.fabric.utilities.imports import (
        _IS_INTERACTIVE,
        _IS_WINDOWS,
        _PYTHON_GREATER_EQUAL_3_10_0,
        _TORCH_EQUAL_2_4_0,
        _TORCH_GREATER_EQUAL_2_2,
        _TORCH_GREATER_EQUAL_2_6,
        _TORCH_LESS_EQUAL_2_6,
    )
    from treadle.fabric.utilities.seed import max_seed_value, min_seed_value, seed_everything

    release = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:3])
    assert _IS_WINDOWS is (platform.system() == "Windows") and _IS_INTERACTIVE is False
    assert _PYTHON_GREATER_EQUAL_3_10_0 is (sys.version_info >= (3, 10))
    assert _TORCH_GREATER_EQUAL_2_2 is (release >= (2, 2, 0))
    assert _TORCH_GREATER_EQUAL_2_6 is (release >= (2, 6, 0))
    assert _TORCH_LESS_EQUAL_2_6 is (release <= (2, 6, 0))
    assert _TORCH_EQUAL_2_4_0 is (release == (2, 4, 0))
    assert (min_seed_value, max_seed_value) == (0, 2**32 - 1)
    assert seed_everything(max_seed_value) == max_seed_value
    with pytest.raises(ValueError, match="4294967296 is not in bounds"):
        seed_everything(max_seed_value + 1)
    assert num_cuda_devices() == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert is_cuda_available() is (num_cuda_devices() > 0)
