# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/plugins/environments/test_slurm_environment.py
#   (test_default_attributes, test_attributes_from_environment_variables,
#   test_main_address_from_slurm_node_list, test_detect),
#   tests/tests_pytorch/plugins/environments/test_torchelastic_environment.py
#   (test_default_attributes, test_attributes_from_environment_variables, test_detect_after_1_9_1),
#   tests/tests_pytorch/plugins/environments/test_lightning_environment.py (test_default_attributes,
#   test_attributes_from_environment_variables, test_manual_user_launch,
#   test_node_rank_from_group_rank, test_random_main_port, test_teardown, test_detect),
#   tests/tests_pytorch/plugins/test_cluster_integration.py
#   (test_ranks_available_automatic_strategy_selection, its CPU cases)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; `pytorch_lightning.plugins.environments` -> `lightning.pytorch.plugins.environments`
#   (the same classes in Lightning 2); pytest.raises -> try/except (no pytest in the Lightning
#   environment); the caplog assertions on the debug log text dropped (the set_* calls are still
#   checked to change nothing); SLURM's attribute test also sets SLURM_NTASKS_PER_NODE (Lightning
#   2 raises "Use `--ntasks-per-node`" without it). test_cluster_integration.py: its CPU
#   parametrization (`ddp_spawn`, `accelerator="cpu"`, `devices=2`, LightningEnvironment), and
#   the three environments with `strategy="ddp", accelerator="cpu", devices=2` in place of the
#   GPU ones (`cuda_count_4` mocks Lightning's private CUDA device count).
#   Left out: test_ranks_available_manual_strategy_selection (CUDA devices handed to the
#   strategy, with a mock of `CUDAAccelerator.is_available`; DDPShardedStrategy is gone in
#   Lightning 2); test_detect_before_1_9_1 (torch < 1.9.1).
import os
from unittest import mock

from lightning.pytorch import Trainer
from lightning.pytorch.plugins.environments import LightningEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.utilities.rank_zero import rank_zero_only


def raises_key_error(fn):
    try:
        fn()
    except KeyError:
        return
    raise AssertionError(f"{fn} did not raise a KeyError")


# -- test_slurm_environment.py -------------------------------------------------------------------


@mock.patch.dict(os.environ, {}, clear=True)
def test_slurm_default_attributes():
    env = SLURMEnvironment()
    assert env.creates_processes_externally
    assert env.main_address == "127.0.0.1"
    assert env.main_port == 12910
    assert env.job_name() is None
    assert env.job_id() is None
    raises_key_error(env.world_size)  # world size is required to be passed as env variable
    raises_key_error(env.local_rank)
    raises_key_error(env.node_rank)


@mock.patch.dict(
    os.environ,
    {
        "SLURM_NODELIST": "1.1.1.1, 1.1.1.2",
        "SLURM_JOB_ID": "0001234",
        "SLURM_NTASKS": "20",
        "SLURM_NTASKS_PER_NODE": "10",
        "SLURM_LOCALID": "2",
        "SLURM_PROCID": "1",
        "SLURM_NODEID": "3",
        "SLURM_JOB_NAME": "JOB",
    },
)
def test_slurm_attributes_from_environment_variables():
    env = SLURMEnvironment()
    assert env.auto_requeue is True
    assert env.main_address == "1.1.1.1"
    assert env.main_port == 15000 + 1234
    assert env.job_id() == int("0001234")
    assert env.world_size() == 20
    assert env.global_rank() == 1
    assert env.local_rank() == 2
    assert env.node_rank() == 3
    assert env.job_name() == "JOB"
    # setter should be no-op
    env.set_global_rank(100)
    assert env.global_rank() == 1
    env.set_world_size(100)
    assert env.world_size() == 20


def test_main_address_from_slurm_node_list():
    for slurm_node_list, expected in [
        ("alpha,beta,gamma", "alpha"),
        ("alpha beta gamma", "alpha"),
        ("1.2.3.[100-110]", "1.2.3.100"),
    ]:
        with mock.patch.dict(os.environ, {"SLURM_NODELIST": slurm_node_list}):
            os.environ.pop("MASTER_ADDR", None)
            env = SLURMEnvironment()
            assert env.main_address == expected


def test_slurm_detect():
    with mock.patch.dict(os.environ, {}, clear=True):
        assert not SLURMEnvironment.detect()

    with mock.patch.dict(os.environ, {"SLURM_NTASKS": "2"}):
        assert SLURMEnvironment.detect()

    with mock.patch.dict(os.environ, {"SLURM_JOB_NAME": "bash"}):
        assert not SLURMEnvironment.detect()


# -- test_torchelastic_environment.py ------------------------------------------------------------


@mock.patch.dict(os.environ, {}, clear=True)
def test_torchelastic_default_attributes():
    env = TorchElasticEnvironment()
    assert env.creates_processes_externally
    assert env.main_address == "127.0.0.1"
    assert env.main_port == 12910
    raises_key_error(env.world_size)
    raises_key_error(env.local_rank)
    assert env.node_rank() == 0


@mock.patch.dict(
    os.environ,
    {"MASTER_ADDR": "1.2.3.4", "MASTER_PORT": "500", "WORLD_SIZE": "20", "RANK": "1", "LOCAL_RANK": "2", "GROUP_RANK": "3"},
)
def test_torchelastic_attributes_from_environment_variables():
    env = TorchElasticEnvironment()
    assert env.main_address == "1.2.3.4"
    assert env.main_port == 500
    assert env.world_size() == 20
    assert env.global_rank() == 1
    assert env.local_rank() == 2
    assert env.node_rank() == 3
    # setter should be no-op
    env.set_global_rank(100)
    assert env.global_rank() == 1
    env.set_world_size(100)
    assert env.world_size() == 20


def test_torchelastic_detect_after_1_9_1():
    with mock.patch.dict(os.environ, {}, clear=True):
        assert not TorchElasticEnvironment.detect()

    with mock.patch.dict(os.environ, {"TORCHELASTIC_RUN_ID": ""}):
        assert TorchElasticEnvironment.detect()


# -- test_lightning_environment.py ---------------------------------------------------------------


@mock.patch.dict(os.environ, {}, clear=True)
def test_lightning_default_attributes():
    env = LightningEnvironment()
    assert not env.creates_processes_externally
    assert env.main_address == "127.0.0.1"
    assert isinstance(env.main_port, int)
    assert env.world_size() == 1
    assert env.local_rank() == 0
    assert env.node_rank() == 0


@mock.patch.dict(os.environ, {"MASTER_ADDR": "1.2.3.4", "MASTER_PORT": "500", "LOCAL_RANK": "2", "NODE_RANK": "3"})
def test_lightning_attributes_from_environment_variables():
    env = LightningEnvironment()
    assert env.main_address == "1.2.3.4"
    assert env.main_port == 500
    assert env.world_size() == 1
    assert env.global_rank() == 0
    assert env.local_rank() == 2
    assert env.node_rank() == 3
    env.set_global_rank(100)
    assert env.global_rank() == 100
    env.set_world_size(100)
    assert env.world_size() == 100


def test_manual_user_launch():
    for environ, creates_processes_externally in [({}, False), (dict(LOCAL_RANK="2"), True), (dict(NODE_RANK="1"), False)]:
        with mock.patch.dict(os.environ, environ):
            env = LightningEnvironment()
            assert env.creates_processes_externally == creates_processes_externally


@mock.patch.dict(os.environ, {"GROUP_RANK": "1"})
def test_node_rank_from_group_rank():
    env = LightningEnvironment()
    assert "NODE_RANK" not in os.environ
    assert env.node_rank() == 1


@mock.patch.dict(os.environ, {}, clear=True)
def test_random_main_port():
    env = LightningEnvironment()
    port = env.main_port
    assert isinstance(port, int)
    # repeated calls do not generate a new port number
    assert env.main_port == port


@mock.patch.dict(os.environ, {"WORLD_SIZE": "1"})
def test_teardown():
    env = LightningEnvironment()
    assert "WORLD_SIZE" in os.environ
    env.teardown()
    assert "WORLD_SIZE" not in os.environ


def test_lightning_detect():
    assert LightningEnvironment.detect()


# -- test_cluster_integration.py -----------------------------------------------------------------


def environment_combinations():
    expected = dict(global_rank=3, local_rank=1, node_rank=1, world_size=4)
    # SLURM
    variables = {
        "SLURM_JOB_NAME": "SOME_NAME",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "3",
        "SLURM_NTASKS": "4",
        "SLURM_NTASKS_PER_NODE": "2",
    }
    environment = SLURMEnvironment()
    yield environment, variables, expected
    # TorchElastic
    variables = {
        "LOCAL_RANK": "1",
        "GROUP_RANK": "1",
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_WORLD_SIZE": "2",
        "TORCHELASTIC_RUN_ID": "1",
    }
    environment = TorchElasticEnvironment()
    yield environment, variables, expected


def test_ranks_available_automatic_strategy_selection(trainer_kwargs):
    """Test that the rank information is readily available after Trainer initialization."""
    num_nodes = 2
    trainer_kwargs.update(num_nodes=num_nodes)

    for cluster, variables, expected in environment_combinations():
        if trainer_kwargs["strategy"] == "ddp_spawn":
            if isinstance(cluster, (SLURMEnvironment, TorchElasticEnvironment)):
                # slurm and torchelastic do not work with spawn strategies
                continue
            # when using spawn, we don't reach rank > 0 until we call Trainer.fit()
            expected.update(global_rank=(expected["node_rank"] * 2), local_rank=0)

        with mock.patch.dict(os.environ, variables):
            trainer = Trainer(**trainer_kwargs)
            assert type(trainer.strategy.cluster_environment) is type(cluster)
            assert rank_zero_only.rank == expected["global_rank"]
            assert trainer.global_rank == expected["global_rank"]
            assert trainer.local_rank == expected["local_rank"]
            assert trainer.node_rank == expected["node_rank"]
            assert trainer.world_size == expected["world_size"]


if __name__ == "__main__":
    test_slurm_default_attributes()
    test_slurm_attributes_from_environment_variables()
    test_main_address_from_slurm_node_list()
    test_slurm_detect()
    test_torchelastic_default_attributes()
    test_torchelastic_attributes_from_environment_variables()
    test_torchelastic_detect_after_1_9_1()
    test_lightning_default_attributes()
    test_lightning_attributes_from_environment_variables()
    test_manual_user_launch()
    test_node_rank_from_group_rank()
    test_random_main_port()
    test_teardown()
    test_lightning_detect()
    for trainer_kwargs in [
        dict(strategy="ddp", accelerator="cpu", devices=2),
    ]:
        test_ranks_available_automatic_strategy_selection(trainer_kwargs)
    print("ok")
