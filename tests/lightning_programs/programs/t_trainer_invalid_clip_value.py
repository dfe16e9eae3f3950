# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/test_trainer.py
#   (test_invalid_gradient_clip_value)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmpdir -> a
#   tempfile dir; pytest.raises -> try/except. Split out of `t_trainer_3.py`.
import re
import tempfile

from lightning.pytorch import Trainer


def raises(exc, match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as err:
        assert re.search(match, str(err)), (match, str(err))
        return err
    raise AssertionError(f"{exc.__name__} matching {match!r} not raised")


def test_invalid_gradient_clip_value(tmpdir):
    raises(
        TypeError,
        "`gradient_clip_val` should be an int or a float",
        Trainer,
        default_root_dir=tmpdir,
        gradient_clip_val=(1, 2),
    )


if __name__ == "__main__":
    test_invalid_gradient_clip_value(tempfile.mkdtemp())
    print("t_trainer_invalid_clip_value: all passed")
