"""``treadle.seed_everything``, as Lightning's: it seeds Python, torch and numpy and returns the seed."""

from __future__ import annotations

import random
import re

import pytest
import torch

import treadle


def test_seed_everything_seeds_python_torch_and_numpy():
    np = pytest.importorskip("numpy")

    def draw():
        return random.random(), torch.rand(3), np.random.rand()

    treadle.seed_everything(1234)
    a = draw()
    draw()
    treadle.seed_everything(1234)
    b = draw()
    assert a[0] == b[0]
    assert torch.equal(a[1], b[1])
    assert a[2] == b[2]
    treadle.seed_everything(4321)
    c = draw()
    assert c[0] != a[0] and not torch.equal(c[1], a[1]) and c[2] != a[2]


def test_seed_everything_returns_the_seed():
    assert treadle.seed_everything(7) == 7


def test_seed_everything_accepts_workers():
    assert treadle.seed_everything(3, workers=True) == 3
    a = torch.rand(2)
    treadle.seed_everything(3, workers=True)
    assert torch.equal(a, torch.rand(2))


# Lightning 2.6.6's `seed_everything(seed=None, workers=False, verbose=True)` (behaviour ported
# from lightning.fabric.utilities.seed and tests_fabric/utilities/test_seed.py).


def test_seed_everything_takes_verbose_and_logs_the_seed(caplog, monkeypatch):
    monkeypatch.delenv("TREADLE_QUIET", raising=False)
    with caplog.at_level("INFO", logger="treadle"):
        assert treadle.seed_everything(5, verbose=False) == 5
        assert "Seed set to" not in caplog.text
        treadle.seed_everything(6)
    assert "Seed set to 6" in caplog.text


def test_seed_everything_none_reads_the_previous_seed(monkeypatch):
    treadle.seed_everything(11, verbose=False)
    assert treadle.seed_everything(None, verbose=False) == 11
    monkeypatch.delenv("TREADLE_GLOBAL_SEED")
    monkeypatch.setenv("PL_GLOBAL_SEED", "12")
    assert treadle.seed_everything(verbose=False) == 12


def test_seed_everything_none_without_a_previous_seed_is_0_with_a_warning(monkeypatch):
    monkeypatch.delenv("TREADLE_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    with pytest.warns(UserWarning, match=re.escape("No seed found, seed set to 0")):
        assert treadle.seed_everything() == 0


def test_seed_everything_refuses_a_seed_out_of_numpy_bounds(monkeypatch):
    for bad in (-1, 2**32):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"{bad} is not in bounds, numpy accepts from 0 to 4294967295; "
                "pass seed_everything a seed in that range."
            ),
        ):
            treadle.seed_everything(bad)
    monkeypatch.setenv("TREADLE_GLOBAL_SEED", "abc")
    with pytest.raises(
        ValueError, match=re.escape("Invalid seed specified via TREADLE_GLOBAL_SEED: 'abc'")
    ):
        treadle.seed_everything()


# lightning.pytorch.utilities.warnings.PossibleUserWarning and
# lightning.pytorch.utilities.disable_possible_user_warnings, as programs import them to filter
# Lightning's "possible user" warnings.


def test_possible_user_warning_is_importable_from_lightnings_path_and_can_be_disabled():
    import warnings

    from treadle.utilities.warnings import PossibleUserWarning

    from treadle.utilities import disable_possible_user_warnings

    assert issubclass(PossibleUserWarning, UserWarning)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        disable_possible_user_warnings()
        warnings.warn("few workers", PossibleUserWarning, stacklevel=1)
        warnings.warn("kept", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["kept"]
