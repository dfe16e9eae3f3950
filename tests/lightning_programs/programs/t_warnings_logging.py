# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_warnings.py
#   (the file's `__main__` part: "check that logging is properly configured")
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: only the file's script part kept (run as a script, as Lightning runs it), with the
#   imports it uses; the pytest test of the same file is in t_warnings.py.
# treadle: strict xfail (docs/migration.md 7): treadle logs on the `treadle` logger (the name
#   "lightning.pytorch" is a string the mapping leaves alone) and gives it its stderr handler when
#   it first logs, not when the package is imported.
from contextlib import redirect_stderr
from io import StringIO

import lightning.pytorch  # noqa: F401

if __name__ == "__main__":
    # check that logging is properly configured
    import logging

    root_logger = logging.getLogger()
    lightning_logger = logging.getLogger("lightning.pytorch")
    # should have a `StreamHandler`
    assert lightning_logger.hasHandlers()
    assert len(lightning_logger.handlers) == 1
    # set our own stream for testing
    handler = lightning_logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stderr = StringIO()
    # necessary with `propagate = False`
    lightning_logger.handlers[0].stream = stderr

    # necessary with `propagate = True`
    with redirect_stderr(stderr):
        # Lightning should not configure the root `logging` logger by default
        logging.info("test1")
        root_logger.info("test1")
        # but our logger instance
        lightning_logger.info("test2")
        # level is set to INFO
        lightning_logger.debug("test3")

    output = stderr.getvalue()
    assert output == "test2\n", repr(output)
    print("ok")
