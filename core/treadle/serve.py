"""``treadle.serve``: check that a Module can be served, as ``lightning.pytorch.serve``.

A Module that also subclasses ``ServableModule`` says how a request becomes its input
(``configure_payload``, ``configure_serialization``), what it answers (``serve_step``) and
what the answer should be (``configure_response``). ``ServableModuleValidator`` is a callback
that, when training starts, serves a copy of the Module over HTTP in a child process (FastAPI
and uvicorn: ``pip install 'treadle[serve]'``), posts the payload to it with ``requests``, and
stops the run with a ``ConfigurationError`` when the answer is not the one expected.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Literal

import torch
from torch import Tensor

from treadle import _lightning_paths
from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle.providers import module_available

__all__ = ["ServableModule", "ServableModuleValidator"]

_logger = logging.getLogger(__name__)
_SHARDED = ("deepspeed", "fsdp")  # strategies whose Module cannot be copied into a server


class ServableModule(ABC, torch.nn.Module):
    """What a Module defines to be servable (as Lightning's ``ServableModule``); mix it into a
    ``treadle.Module``: ``class Model(treadle.Module, ServableModule)``."""

    @abstractmethod
    def configure_payload(self) -> dict[str, Any]:
        """A request payload: a dict with a ``"body"`` dict of the ``serve_step`` inputs."""

    @abstractmethod
    def configure_serialization(self) -> tuple[dict[str, Callable], dict[str, Callable]]:
        """(deserializers, serializers): ``serve_step`` input name -> a function turning the
        payload's value into a tensor, and output name -> a function turning the tensor into
        something JSON holds."""

    @abstractmethod
    def serve_step(self, *args: Tensor, **kwargs: Tensor) -> dict[str, Tensor]:
        """The Module's answer to the deserialized inputs, as a dict of tensors."""

    @abstractmethod
    def configure_response(self) -> dict[str, Any]:
        """The answer the server should give to ``configure_payload()``."""


class ServableModuleValidator(Callback):
    """Serve the Module when training starts and check its answer (as Lightning's
    ``ServableModuleValidator``; rank zero only).

    :param optimization: None (``"trace"``, ``"script"``, ``"onnx"``, ``"tensorrt"``: not
        supported, as in Lightning).
    :param server: ``"fastapi"`` (the only one, as in Lightning).
    :param host: the address the server listens on.
    :param port: its port.
    :param timeout: seconds to wait for the server to answer ``/ping``.
    :param exit_on_failure: stop the run when the answer is not HTTP 200.

    After the check, ``resp`` is the ``requests.Response`` and ``successful`` says whether it
    was HTTP 200.
    """

    def __init__(
        self,
        optimization: Literal["trace", "script", "onnx", "tensorrt"] | None = None,
        server: Literal["fastapi", "ml_server", "torchserve", "sagemaker"] = "fastapi",
        host: str = "127.0.0.1",
        port: int = 8080,
        timeout: int = 20,
        exit_on_failure: bool = True,
    ) -> None:
        missing = [m for m in ("fastapi", "uvicorn", "requests") if not module_available(m)]
        if missing:
            raise ModuleNotFoundError(
                f"ServableModuleValidator needs {', '.join(missing)}: "
                f"pip install 'treadle[serve]' (fastapi, uvicorn, requests)"
            )
        if optimization is not None:
            raise NotImplementedError(
                f"The optimization {optimization} is currently not supported."
            )
        if server != "fastapi":
            raise NotImplementedError("Only the fastapi server is currently supported.")
        self.optimization = optimization
        self.server = server
        self.host = host
        self.port = port
        self.timeout = timeout
        self.exit_on_failure = exit_on_failure
        self.resp: Any = None  # the requests.Response

    @property
    def successful(self) -> bool | None:
        """Whether the server answered HTTP 200 (None before the check)."""
        return self.resp.status_code == 200 if self.resp is not None else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "successful": self.successful,
            "optimization": self.optimization,
            "server": self.server,
        }

    def on_train_start(self, trainer, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        if trainer.strategy.name.startswith(_SHARDED):
            raise ConfigurationError(
                f"ServableModuleValidator: The current strategy {trainer.strategy.name!r} used "
                f"by the trainer isn't supported for sanity serving yet (use a single device or "
                f"'ddp', or remove the callback)."
            )
        if not isinstance(pl_module, ServableModule):
            raise TypeError(
                f"The provided model should be subclass of {ServableModule.__qualname__}."
            )
        for hook in ("configure_payload", "configure_serialization", "serve_step"):
            if getattr(type(pl_module), hook) is getattr(ServableModule, hook):
                raise NotImplementedError(f"The `{hook}` method needs to be overridden.")
        import requests

        # The child gets the Module without the Trainer (which does not cross processes).
        module: Any = pl_module  # (a treadle.Module too, with its `trainer`)
        module.trainer = None
        try:
            process = _processes().Process(
                target=_serve, args=(module, self.host, self.port), daemon=True
            )
            process.start()
        finally:
            module.trainer = trainer
        base = f"http://{self.host}:{self.port}"
        try:
            self._wait_until_up(requests, base, process)
            payload = pl_module.configure_payload()
            if "body" not in payload:
                raise ConfigurationError(
                    f'Your provided payload {payload} should have a field named "body".'
                )
            self.resp = requests.post(f"{base}/serve", json=payload, timeout=self.timeout)
        finally:
            process.kill()
            process.join(timeout=10)
        # (Lightning compares the answer first, which fails to decode the text of an HTTP 500)
        if not self.successful:
            if self.exit_on_failure:
                raise ConfigurationError(
                    f"The model isn't servable (the server answered HTTP "
                    f"{self.resp.status_code}). Investigate the traceback and try again."
                )
            return
        expected = pl_module.configure_response()
        if self.resp.json() != expected:
            raise ConfigurationError(
                f"The expected response {expected} doesn't match the generated one "
                f"{self.resp.json()}."
            )
        _logger.info(f"Your model is servable and the received payload was {self.resp.json()}.")

    def _wait_until_up(self, requests: Any, base: str, process: Any) -> None:
        start = time.monotonic()
        while True:
            with contextlib.suppress(requests.exceptions.ConnectionError):
                if requests.get(f"{base}/ping", timeout=self.timeout).status_code == 200:
                    return
            if not process.is_alive():
                raise RuntimeError(
                    f"ServableModuleValidator: the server process exited with code "
                    f"{process.exitcode} before answering at {base} (is the port in use?)."
                )
            if time.monotonic() - start > self.timeout:
                raise RuntimeError(f"The server didn't start within {self.timeout} seconds.")
            time.sleep(0.1)


def _processes() -> Any:
    """Where the server process comes from: a fork on Linux (the Module, even one defined in a
    function, need not pickle; Python 3.14 no longer forks by default), else the default."""
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _serve(module: ServableModule, host: str, port: int) -> None:
    """In the child process: serve ``module`` with ``/ping`` and ``/serve`` until killed."""
    from fastapi import Body, FastAPI
    from uvicorn import run

    app = FastAPI()
    deserializers, serializers = module.configure_serialization()
    module.eval()

    @app.get("/ping")
    def ping() -> bool:
        return True

    @app.post("/serve")
    def serve(payload: dict = Body(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI's idiom)
        body = payload["body"]
        for key, deserialize in deserializers.items():
            body[key] = deserialize(body[key])
        with torch.no_grad():
            output = module.serve_step(**body)
        if not isinstance(output, dict):
            raise TypeError(f"Please, return your outputs as a dictionary. Found {output}")
        for key, serialize in serializers.items():
            output[key] = serialize(output[key])
        return output

    run(app, host=host, port=port, log_level="error")


# ``treadle.serve.servable_module`` and ``...servable_module_validator``: this module.
_lightning_paths.register(__name__)
