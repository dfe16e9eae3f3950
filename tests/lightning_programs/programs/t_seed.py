# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_seed.py
#   (test_seed_stays_same_with_multiple_seed_everything_calls, test_correct_seed_with_environment_variable,
#   test_invalid_seed, test_out_of_bounds_seed, test_reset_seed_no_op, test_reset_seed_everything,
#   test_isolate_rng), in the form Lightning 2.6.6 runs them: `seed_everything`/`reset_seed` live
#   in `lightning.fabric.utilities.seed` (tests/tests_fabric/utilities/test_seed.py, with its
#   test_default_seed), `isolate_rng` in `lightning.pytorch.utilities.seed`
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   mock.patch.dict(os.environ, clear=True) -> the environment emptied and restored by hand;
#   pytest.warns -> warnings.catch_warnings(record=True); the patched `_select_seed_randomly`
#   (private) dropped: the seed expected is the fabric test's 0; an invalid or out-of-bounds seed
#   is refused with a ValueError on Lightning 2.6.6 (checked; the published test expects a
#   warning and a random seed, a behaviour Lightning has since dropped). Left out: the CUDA half of
#   test_isolate_rng (GPU); test_backward_compatibility_rng_states_dict,
#   test_collect_rng_states_if_cuda_init_fails (`_collect_rng_states`, `_set_rng_states`: private);
#   test_seed_everything_log_info (`_get_rank`, a mocked `log.info`); test_pl_worker_init_function
#   (4096 reseeds; `pl_worker_init_function` is covered by the DataLoader programs).
import os
import random
import re
import warnings

import numpy as np
import torch

from lightning.fabric.utilities.seed import reset_seed, seed_everything
from lightning.pytorch.utilities.seed import isolate_rng


def with_environ(environ, fn, *args):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        return fn(*args)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def warned(fn, *args):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [str(w.message) for w in record if issubclass(w.category, UserWarning)]


def test_default_seed():
    """Test that the default seed is 0 when no seed provided and no environment variable set."""
    assert seed_everything() == 0
    assert os.environ["PL_GLOBAL_SEED"] == "0"


def test_seed_stays_same_with_multiple_seed_everything_calls():
    """Ensure that after the initial seed everything, the seed stays the same for the same run."""
    _, messages = warned(seed_everything)
    assert any(re.search("No seed found", m) for m in messages), messages
    initial_seed = os.environ.get("PL_GLOBAL_SEED")

    _, messages = warned(seed_everything)
    assert not messages, messages  # does not warn
    seed = os.environ.get("PL_GLOBAL_SEED")

    assert initial_seed == seed


def test_correct_seed_with_environment_variable():
    """Ensure that the PL_GLOBAL_SEED environment is read."""
    assert seed_everything() == 2020


def test_invalid_seed():
    """Ensure that an invalid seed is refused."""
    try:
        seed_everything()
    except ValueError as e:
        assert re.search("Invalid seed specified", str(e)), str(e)
    else:
        raise AssertionError("ValueError not raised")


def test_out_of_bounds_seed(seed):
    """Ensure that an out-of-bounds seed is refused."""
    try:
        seed_everything(seed)
    except ValueError as e:
        assert re.search("is not in bounds", str(e)), str(e)
    else:
        raise AssertionError("ValueError not raised")


def test_reset_seed_no_op():
    """Test that the reset_seed function is a no-op when seed_everything() was not used."""
    assert "PL_GLOBAL_SEED" not in os.environ
    seed_before = torch.initial_seed()
    reset_seed()
    assert torch.initial_seed() == seed_before
    assert "PL_GLOBAL_SEED" not in os.environ


def test_reset_seed_everything(workers):
    """Test that we can reset the seed to the initial value set by seed_everything()"""
    assert "PL_GLOBAL_SEED" not in os.environ
    assert "PL_SEED_WORKERS" not in os.environ

    seed_everything(123, workers)
    before = torch.rand(1)
    assert os.environ["PL_GLOBAL_SEED"] == "123"
    assert os.environ["PL_SEED_WORKERS"] == str(int(workers))

    reset_seed()
    after = torch.rand(1)
    assert os.environ["PL_GLOBAL_SEED"] == "123"
    assert os.environ["PL_SEED_WORKERS"] == str(int(workers))
    assert torch.allclose(before, after)


def test_isolate_rng():
    """Test that the isolate_rng context manager isolates the random state from the outer scope."""
    # torch
    torch.rand(1)
    with isolate_rng():
        generated = [torch.rand(2) for _ in range(3)]
    assert torch.equal(torch.rand(2), generated[0])

    # numpy
    np.random.rand(1)
    with isolate_rng():
        generated = [np.random.rand(2) for _ in range(3)]
    assert np.equal(np.random.rand(2), generated[0]).all()

    # python
    random.random()
    with isolate_rng():
        generated = [random.random() for _ in range(3)]
    assert random.random() == generated[0]


if __name__ == "__main__":
    with_environ({}, test_default_seed)
    with_environ({}, test_seed_stays_same_with_multiple_seed_everything_calls)
    with_environ({"PL_GLOBAL_SEED": "2020"}, test_correct_seed_with_environment_variable)
    with_environ({"PL_GLOBAL_SEED": "invalid"}, test_invalid_seed)
    for seed in (10e9, -10e9):
        with_environ({}, test_out_of_bounds_seed, seed)
    with_environ({}, test_reset_seed_no_op)
    for workers in (True, False):
        with_environ({}, test_reset_seed_everything, workers)
    test_isolate_rng()
    print("ok")
