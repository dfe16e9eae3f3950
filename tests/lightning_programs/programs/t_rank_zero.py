# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_rank_zero.py
#   (test_rank_zero_known_environment_variables), in the form Lightning 2.6.6 runs it
#   (tests/tests_fabric/utilities/test_rank_zero.py: the `lightning.fabric` path, and
#   `lightning_utilities.core.rank_zero` dropped from sys.modules too; the tests_pytorch form,
#   which drops only `pytorch_lightning.utilities.rank_zero`, fails on Lightning 2.6.6: the rank
#   is kept by `lightning_utilities`, checked)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; parametrize -> a
#   loop; mock.patch.dict(os.environ)/monkeypatch.delitem -> the variables and modules set and
#   restored by hand. Left out, being tests of Lightning's private helpers:
#   test_rank_zero_priority, test_rank_prefixed_message_with_env_vars,
#   test_rank_prefixed_message_with_trainer (`_get_rank`, `_rank_prefixed_message`, a Trainer's
#   `strategy.global_rank`/`world_size` set by hand).
import os
import sys


def test_rank_zero_known_environment_variables(env_vars, expected):
    """Test that rank environment variables are properly checked for rank_zero_only."""
    saved_env = dict(os.environ)
    names = ("lightning_utilities.core.rank_zero", "lightning.fabric.utilities.rank_zero")
    saved_modules = {name: sys.modules[name] for name in names if name in sys.modules}
    os.environ.update(env_vars)
    try:
        # force module reload to re-trigger the rank_zero_only.rank global computation
        sys.modules.pop("lightning_utilities.core.rank_zero", None)
        sys.modules.pop("lightning.fabric.utilities.rank_zero", None)
        from lightning.fabric.utilities.rank_zero import rank_zero_only

        @rank_zero_only
        def foo():
            return 1

        assert foo() == expected, (env_vars, foo(), expected)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.modules.update(saved_modules)


if __name__ == "__main__":
    for env_vars, expected in [
        ({"RANK": "0"}, 1),
        ({"SLURM_PROCID": "0"}, 1),
        ({"LOCAL_RANK": "0"}, 1),
        ({"JSM_NAMESPACE_RANK": "0"}, 1),
        ({}, 1),
        ({"RANK": "1"}, None),
        ({"SLURM_PROCID": "2"}, None),
        ({"LOCAL_RANK": "3"}, None),
        ({"JSM_NAMESPACE_RANK": "4"}, None),
    ]:
        test_rank_zero_known_environment_variables(env_vars, expected)
    print("ok")
