# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/plugins/environments/test_kubeflow_environment.py
#   (test_default_attributes, test_attributes_from_environment_variables)
#   https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/plugins/environments/test_lsf_environment.py
#   (test_missing_lsb_djob_rankfile, test_empty_lsb_djob_rankfile, test_missing_lsb_job_id,
#    test_manual_main_port_and_address, test_attributes_from_environment_variables,
#    test_node_rank, test_detect)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted;
#   `pytorch_lightning` -> `lightning.pytorch`; pytest.raises -> try/except with re.search
#   (Lightning's environment has no pytest); tmp_path -> a tempfile dir; the decorators
#   `mock.patch.dict(os.environ, ...)` -> `with` blocks; the caplog assertions on the debug text
#   ("setting global rank is not allowed") dropped (Lightning's logger does not propagate to the
#   root logger outside its test suite's conftest); the no-op setters' effect still asserted.
#   Left out: test_detect_kubeflow and test_detect_torchelastic_over_kubeflow (Lightning 1's
#   detection: on Lightning 2.6.6 `KubeflowEnvironment.detect()` raises NotImplementedError, "The
#   Kubeflow environment can't be detected automatically", which the program asserts instead).
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

from lightning.pytorch.plugins.environments import KubeflowEnvironment, LSFEnvironment


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


# test_kubeflow_environment.py

_KUBEFLOW = {
    "KUBERNETES_PORT": "tcp://127.0.0.1:443",
    "MASTER_ADDR": "1.2.3.4",
    "MASTER_PORT": "500",
    "WORLD_SIZE": "20",
    "RANK": "1",
}


def test_kubeflow_default_attributes():
    """Test the default attributes when no environment variables are set."""
    with mock.patch.dict(os.environ, {}, clear=True):
        env = KubeflowEnvironment()
        assert env.creates_processes_externally

        _raises(KeyError, "MASTER_ADDR", lambda: env.main_address)  # MASTER_ADDR is required
        _raises(KeyError, "MASTER_PORT", lambda: env.main_port)  # MASTER_PORT is required
        _raises(KeyError, "WORLD_SIZE", lambda: env.world_size())  # WORLD_SIZE is required
        _raises(KeyError, "RANK", lambda: env.global_rank())  # RANK is required
        assert env.local_rank() == 0


def test_kubeflow_attributes_from_environment_variables():
    """Test that the torchelastic cluster environment takes the attributes from the environment variables."""
    with mock.patch.dict(os.environ, _KUBEFLOW):
        env = KubeflowEnvironment()
        assert env.main_address == "1.2.3.4"
        assert env.main_port == 500
        assert env.world_size() == 20
        assert env.global_rank() == 1
        assert env.local_rank() == 0
        assert env.node_rank() == 1
        # setter should be no-op
        env.set_global_rank(100)
        assert env.global_rank() == 1
        env.set_world_size(100)
        assert env.world_size() == 20


def kubeflow_detect_refused():
    # Lightning 2.6.6 (in place of test_detect_kubeflow, test_detect_torchelastic_over_kubeflow)
    with mock.patch.dict(os.environ, _KUBEFLOW):
        _raises(NotImplementedError, "can't be detected automatically", KubeflowEnvironment.detect)


# test_lsf_environment.py


def _make_rankfile(tmp_path):
    hosts = "batch\n10.10.10.0\n10.10.10.1\n10.10.10.2\n10.10.10.3"
    p = tmp_path / "lsb_djob_rankfile"
    p.write_text(hosts)
    return str(p)


def test_missing_lsb_djob_rankfile():
    """Test an error when the LSB_DJOB_RANKFILE cannot be found."""
    with mock.patch.dict(os.environ, {"LSB_JOBID": "1234"}):
        _raises(
            ValueError, "Did not find the environment variable `LSB_DJOB_RANKFILE`", LSFEnvironment
        )


def test_empty_lsb_djob_rankfile():
    """Test an error when the LSB_DJOB_RANKFILE is not populated."""
    with mock.patch.dict(os.environ, {"LSB_DJOB_RANKFILE": "", "LSB_JOBID": "1234"}):
        _raises(ValueError, "The environment variable `LSB_DJOB_RANKFILE` is empty", LSFEnvironment)


def test_missing_lsb_job_id(tmp_path):
    """Test an error when the job id cannot be found."""
    with mock.patch.dict(os.environ, {"LSB_DJOB_RANKFILE": _make_rankfile(tmp_path)}):
        _raises(
            ValueError, "Could not find job id in environment variable LSB_JOBID", LSFEnvironment
        )


def _lsf_environ(tmp_path):
    return {
        "LSB_DJOB_RANKFILE": _make_rankfile(tmp_path),
        "LSB_JOBID": "1234",
        "JSM_NAMESPACE_SIZE": "4",
        "JSM_NAMESPACE_RANK": "3",
        "JSM_NAMESPACE_LOCAL_RANK": "1",
    }


def test_manual_main_port_and_address(tmp_path):
    """Test a user can set the port manually through the MASTER_PORT env variable."""
    environ = _lsf_environ(tmp_path)
    with (
        mock.patch.dict(os.environ, environ),
        mock.patch("socket.gethostname", return_value="10.10.10.2"),
    ):
        env = LSFEnvironment()
        assert env.main_port == 10234


def test_lsf_attributes_from_environment_variables(tmp_path):
    """Test that the LSF environment takes the attributes from the environment variables."""
    environ = _lsf_environ(tmp_path)
    with (
        mock.patch.dict(os.environ, environ),
        mock.patch("socket.gethostname", return_value="10.10.10.2"),
    ):
        env = LSFEnvironment()
        assert env.creates_processes_externally
        assert env.main_address == "10.10.10.0"
        assert env.main_port == 10234
        assert env.world_size() == 4
        assert env.global_rank() == 3
        assert env.local_rank() == 1
        env.set_global_rank(100)
        assert env.global_rank() == 3
        env.set_world_size(100)
        assert env.world_size() == 4
        assert LSFEnvironment.detect()


def test_node_rank(tmp_path):
    environ = _lsf_environ(tmp_path)
    with (
        mock.patch.dict(os.environ, environ),
        mock.patch("socket.gethostname", return_value="10.10.10.2"),
    ):
        env = LSFEnvironment()
        assert env.node_rank() == 2


def test_detect():
    """Test the detection of a LSF environment configuration."""
    with mock.patch.dict(os.environ, {}, clear=True):
        assert not LSFEnvironment.detect()

    with mock.patch.dict(
        os.environ,
        {
            "LSB_DJOB_RANKFILE": "",
            "LSB_JOBID": "",
            "JSM_NAMESPACE_SIZE": "",
            "JSM_NAMESPACE_LOCAL_RANK": "",
        },
    ):
        assert LSFEnvironment.detect()


if __name__ == "__main__":
    test_kubeflow_default_attributes()
    test_kubeflow_attributes_from_environment_variables()
    kubeflow_detect_refused()
    test_missing_lsb_djob_rankfile()
    test_empty_lsb_djob_rankfile()
    with tempfile.TemporaryDirectory() as tmp:
        test_missing_lsb_job_id(Path(tmp))
        test_manual_main_port_and_address(Path(tmp))
        test_lsf_attributes_from_environment_variables(Path(tmp))
        test_node_rank(Path(tmp))
    test_detect()
    print("OK")
