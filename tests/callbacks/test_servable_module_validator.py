"""treadle.serve: ServableModule and ServableModuleValidator.

Ported from Lightning's ``tests/tests_pytorch/serve/test_servable_module_validator.py``
(Apache-2.0, Copyright The Lightning AI team): the servable BoringModel and the check that
``fit()`` with the validator serves it and gets the expected answer. Lightning's case runs under
``ddp_spawn`` with 2 devices; here one process (the validator works on rank zero only). The
server is real: FastAPI and uvicorn in a child process, on a free port. Tests marked "treadle"
at the end are our own.
"""

from __future__ import annotations

import re
import socket

import pytest
import torch
from boring_model import BoringModel, quiet
from torch import Tensor

import treadle
from treadle.errors import ConfigurationError

pytest.importorskip("fastapi", reason="the serve extra: pip install 'treadle[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra: pip install 'treadle[serve]'")

from treadle.serve import ServableModule, ServableModuleValidator  # noqa: E402


class ServableBoringModel(BoringModel, ServableModule):
    def configure_payload(self):
        return {"body": {"x": list(range(32))}}

    def configure_serialization(self):
        def deserialize(x):
            return torch.tensor(x, dtype=torch.float)

        def serialize(x):
            return x.tolist()

        return {"x": deserialize}, {"output": serialize}

    def serve_step(self, x: Tensor) -> dict[str, Tensor]:
        assert torch.equal(x, torch.arange(32, dtype=torch.float))
        return {"output": torch.tensor([0, 1])}

    def configure_response(self):
        return {"output": [0, 1]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fit(tmp_path, model, callback):
    args = quiet(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    trainer = treadle.Trainer(**args, callbacks=[callback])
    trainer.fit(model)
    return trainer


def test_servable_module_validator_with_trainer(tmp_path):
    callback = ServableModuleValidator(port=free_port(), timeout=60)
    model = ServableBoringModel()
    trainer = fit(tmp_path, model, callback)
    assert callback.resp.json() == {"output": [0, 1]}
    assert callback.successful
    assert callback.state_dict() == {"successful": True, "optimization": None, "server": "fastapi"}
    assert model.trainer is trainer  # given back after the copy went to the server
    assert trainer.global_step == 2  # training went on


# -- treadle ------------------------------------------------------------------------------------


def test_a_wrong_answer_stops_the_run(tmp_path):
    class WrongAnswer(ServableBoringModel):
        def configure_response(self):
            return {"output": [1, 0]}

    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "The expected response {'output': [1, 0]} doesn't match the generated one "
            "{'output': [0, 1]}."
        ),
    ):
        fit(tmp_path, WrongAnswer(), ServableModuleValidator(port=free_port(), timeout=60))


def test_a_failing_serve_step_is_not_servable(tmp_path):
    class Failing(ServableBoringModel):
        def serve_step(self, x):
            raise ValueError("no")

        def configure_response(self):  # not compared: the server's 500 is what counts
            return {"detail": "Internal Server Error"}

    callback = ServableModuleValidator(port=free_port(), timeout=60)
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "The model isn't servable (the server answered HTTP 500). Investigate the traceback "
            "and try again."
        ),
    ):
        fit(tmp_path, Failing(), callback)
    assert callback.successful is False
    # exit_on_failure=False: the run goes on, the answer kept for the caller to read
    callback = ServableModuleValidator(port=free_port(), timeout=60, exit_on_failure=False)
    trainer = fit(tmp_path, Failing(), callback)
    assert callback.resp.status_code == 500
    assert trainer.global_step == 2


def test_refusals_before_any_server_starts(tmp_path):
    with pytest.raises(
        NotImplementedError, match=re.escape("The optimization trace is currently not supported.")
    ):
        ServableModuleValidator(optimization="trace")
    with pytest.raises(
        NotImplementedError, match=re.escape("Only the fastapi server is currently supported.")
    ):
        ServableModuleValidator(server="torchserve")
    with pytest.raises(
        TypeError, match=re.escape("The provided model should be subclass of ServableModule.")
    ):
        fit(tmp_path, BoringModel(), ServableModuleValidator(port=free_port()))

    class NoBody(ServableBoringModel):
        def configure_payload(self):
            return {"x": [1]}

    with pytest.raises(
        ConfigurationError,
        match=re.escape("Your provided payload {'x': [1]} should have a field named \"body\"."),
    ):
        fit(tmp_path, NoBody(), ServableModuleValidator(port=free_port(), timeout=60))


def test_servable_module_is_abstract():
    class Partial(BoringModel, ServableModule):
        def configure_payload(self):
            return {"body": {}}

    with pytest.raises(TypeError, match="abstract"):
        Partial()
    assert treadle.serve.ServableModule is ServableModule
    from treadle.serve.servable_module import ServableModule as via_lightning_path

    assert via_lightning_path is ServableModule
