"""The two exceptions users and plugin authors meet."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """Raised before the first ``training_step`` when the run cannot work as configured.

    ``problems`` holds one string per problem, each naming the plugin (or ``Trainer``
    argument) that found it and the fix. Raised with no argument (Lightning's bare
    ``raise MisconfigurationException``, the name treadle keeps for it), ``problems`` is empty.
    """

    def __init__(self, problems=()):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        if n == 0:
            super().__init__("configuration problem (raised without a description)")
            return
        head = "1 configuration problem" if n == 1 else f"{n} configuration problems"
        super().__init__(f"{head}:\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConfigurationTypeError(ConfigurationError, TypeError):
    """A ``ConfigurationError`` among whose problems is at least one that Lightning's
    ``Trainer`` (or Python, binding its arguments) raises a ``TypeError`` for: a name that is
    not a Trainer argument, or a ``gradient_clip_val`` that is not a number. Also a
    ``TypeError``, so that ``except TypeError`` written for Lightning catches it; still every
    problem, of any kind, is in ``problems``.

    ``unexpected`` is the first name that is not an argument: the message then starts with
    Python's own sentence, "Trainer.__init__() got an unexpected keyword argument '<name>'."
    """

    def __init__(self, problems=(), unexpected: str | None = None):
        super().__init__(problems)
        if unexpected is not None:  # Python's words first, as a TypeError from the call reads
            lead = f"Trainer.__init__() got an unexpected keyword argument {unexpected!r}. "
            self.args = (lead + self.args[0],)


class MetricNotFoundError(ConfigurationError, RuntimeError):
    """A callback's ``monitor`` names a metric the run never logged (``ModelCheckpoint``,
    ``EarlyStopping``). A ``ConfigurationError`` (the command line exits 2 on it) and, as in
    Lightning, a ``RuntimeError``."""

    def __init__(self, message: str, monitor: str, logged: list[str]) -> None:
        import difflib

        close = difflib.get_close_matches(monitor, logged, n=1, cutoff=0.8)
        if close:
            message += f" Did you mean {close[0]!r}?"
        super().__init__([message])


class MultipleOptimizersError(ConfigurationError, RuntimeError):
    """Several optimizers under automatic optimization, or a ``training_step`` that takes
    ``optimizer_idx`` (Lightning 1's form). A ``ConfigurationError`` and, as in Lightning, a
    ``RuntimeError``."""


class DataloaderIdxError(ConfigurationError, RuntimeError):
    """An evaluation step or batch hook that cannot take the ``dataloader_idx`` its loop passes
    (several loaders and no such parameter, or one loader and a required one). A
    ``ConfigurationError`` and, as in Lightning, a ``RuntimeError``."""


class InvalidDataloaderError(ConfigurationError, TypeError):
    """A loader source that is None or gives something that cannot be iterated: nothing passed
    to the entry point and no loader hook, a hook that returns None, or a passed object that is
    not an iterable. A ``ConfigurationError`` and, as in Lightning, a ``TypeError`` ("An
    invalid dataloader was passed to ...")."""


class StatefulCallbackError(ConfigurationError, RuntimeError):
    """Two stateful callbacks of a run share one ``state_key`` (their states would overwrite
    each other in checkpoints). A ``ConfigurationError`` and, as in Lightning, a
    ``RuntimeError``, raised when the ``Trainer`` is made."""


class PluginError(RuntimeError):
    """A plugin failed to load or to register (names the entry point and its distribution)."""


class NonFiniteLossError(RuntimeError):
    """``Trainer(nonfinite_loss="raise")`` met a NaN or infinite loss (names where and the fixes)."""


class TrainingSpikeException(RuntimeError):
    """``SpikeDetection`` found a loss spike (as Lightning's exception of the same name):
    "Training spike detected in batch <batch_idx>"; ``batch_idx`` is that batch."""

    def __init__(self, batch_idx: int, *args: object) -> None:
        self.batch_idx = batch_idx
        super().__init__(f"Training spike detected in batch {batch_idx}", *args)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or read as asked: names the file and what is wrong.

    Raised before the first ``training_step`` of a resumed run, for a missing or truncated
    file, a file that is not a treadle checkpoint, one that would run code when loaded, or
    one whose weights or optimizer states do not fit the run; and when a save fails (a full
    disk), in which case the previous file at that path is left as it was. ``path`` is the file.
    """

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"checkpoint {self.path!r}: {message}")


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist: a ``CheckpointError`` and, as in Lightning, a
    ``FileNotFoundError`` whose message starts "Checkpoint file not found: <path>"."""

    def __init__(self, path, detail: str = ""):
        self.path = str(path)
        where = f" {detail}" if detail else ""
        RuntimeError.__init__(
            self, f"Checkpoint file not found: {self.path}{where}."
        )  # as Lightning


class Preempted(SystemExit):
    """``fit()`` stopped on a signal (SIGTERM, SIGUSR1 or SIGINT): the training step that was
    running finished, the run was saved to ``ckpt_path``, and ``on_exception`` got this.
    ``validate()``, ``test()`` and ``predict()`` stop the same way after the batch running,
    with nothing saved: ``ckpt_path`` is None there.

    A ``SystemExit``: uncaught, the process exits quietly with ``code`` = 128 + ``signum``
    (143 for SIGTERM, 138 for SIGUSR1, 130 for SIGINT), what a shell reports for a process
    the signal ended; ``except Exception`` does not catch it. Under several ranks ``signum`` is
    the one the ranks agreed on (the highest number any of them received).
    """

    def __init__(self, signum: int, ckpt_path: str | None, stopped: str = "the run") -> None:
        self.signum = signum
        self.ckpt_path = ckpt_path  # None: nothing saved (validate, test, predict)
        name = _signal_name(signum)
        if ckpt_path is None:
            super().__init__(f"{name} received: {stopped} stopped")
        else:
            super().__init__(f"{name} received: the run was saved to {ckpt_path}")
        self.code = 128 + signum  # what SystemExit exits with


class SIGTERMException(Preempted):
    """The :class:`Preempted` that SIGTERM raises (Lightning's name, importable as
    ``treadle.utilities.SIGTERMException``), so that ``except SIGTERMException`` written for
    Lightning catches treadle's stop on SIGTERM. ``code`` is 143; built with no arguments, as
    Lightning's, ``ckpt_path`` is None."""

    def __init__(self, ckpt_path: str | None = None, stopped: str = "the run") -> None:
        import signal

        super().__init__(signal.SIGTERM, ckpt_path, stopped)


def preempted(signum: int, ckpt_path: str | None, stopped: str = "the run") -> Preempted:
    """The exception a stop on ``signum`` raises: :class:`SIGTERMException` for SIGTERM."""
    import signal

    if signum == signal.SIGTERM:
        return SIGTERMException(ckpt_path, stopped)
    return Preempted(signum, ckpt_path, stopped)


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
