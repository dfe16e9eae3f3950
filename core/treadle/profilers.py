"""Profilers: ``Trainer(profiler=...)``, as Lightning's ``lightning.pytorch.profilers``.

``Trainer(profiler=None)`` (the default) gives ``trainer.profiler`` a :class:`PassThroughProfiler`
and changes nothing in the loop: the run's hook callers are resolved as without a profiler. A
real profiler (``"simple"``, ``"advanced"``, ``"pytorch"`` or an instance of a class here) has
the run's actions timed, once per run, by wrapping what the loop calls (``treadle._profiling``):
every hook implementation, under Lightning's action names (``[LightningModule]MyModel.
training_step``, ``[Callback]EarlyStopping{...}.on_validation_end``, ``[Strategy]
SingleDeviceStrategy.training_step``), and the loop's ``run_training_epoch``,
``run_training_batch``, ``run_<stage>_evaluation`` and ``setup_train_dataloader``.

At the end of each ``fit``/``validate``/``test``/``predict`` the profiler's report
(:meth:`Profiler.summary`) is written: to ``dirpath/<stage>-<filename>.txt`` when ``filename``
is given (``dirpath`` defaults to ``trainer.log_dir``; ``-<local_rank>`` is added under several
processes), else logged at INFO on the ``treadle.profilers`` logger (printed to stderr unless
the application configured logging, as the ``treadle`` logger's lines).

A profiler of your own subclasses :class:`Profiler` and implements ``start(action_name)`` and
``stop(action_name)`` (and ``summary()`` for a report).
"""

from __future__ import annotations

import cProfile
import io
import logging
import math
import os
import pstats
import re
import time
from collections import defaultdict
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, Callable, TextIO, Union

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]", None]


class Profiler:
    """The base of every profiler: ``start``/``stop`` an action, ``profile(name)`` around one,
    ``summary()`` the report, ``describe()`` writes it (Lightning's ``Profiler``)."""

    def __init__(self, dirpath: PathLike = None, filename: str | None = None) -> None:
        self.dirpath = dirpath
        self.filename = filename
        self._output_file: TextIO | None = None
        self._write_stream: Callable[[str], Any] | None = None
        self._local_rank: int | None = None
        self._stage: str | None = None

    def start(self, action_name: str) -> None:
        """Start recording ``action_name``."""
        raise NotImplementedError(f"{type(self).__name__} must implement `start(action_name)`.")

    def stop(self, action_name: str) -> None:
        """Stop recording ``action_name`` (record its duration)."""
        raise NotImplementedError(f"{type(self).__name__} must implement `stop(action_name)`.")

    def summary(self) -> str:
        """The report (empty by default)."""
        return ""

    @contextmanager
    def profile(self, action_name: str) -> Generator[str, None, None]:
        """``with profiler.profile("load data"): ...`` records the block as ``action_name``."""
        try:
            self.start(action_name)
            yield action_name
        finally:
            self.stop(action_name)

    @property
    def local_rank(self) -> int:
        return 0 if self._local_rank is None else self._local_rank

    def setup(self, stage: str, local_rank: int | None = None, log_dir: str | None = None) -> None:
        """Called by the Trainer before a stage runs: the stage's name, this process's local
        rank (None in a single process), and ``trainer.log_dir`` for ``dirpath`` when unset."""
        self._stage = stage
        self._local_rank = local_rank
        self.dirpath = self.dirpath or log_dir

    def describe(self) -> None:
        """Write the report (see the module docstring), then :meth:`teardown`; the Trainer
        calls it at the end of each stage, and a profiler used alone may call it itself."""
        self._prepare_streams()
        text = self.summary()
        if text and self._write_stream is not None:
            self._write_stream(text)
        if self._output_file is not None:
            self._output_file.flush()
        self.teardown(stage=self._stage)

    def teardown(self, stage: str | None) -> None:
        """Close the report's file."""
        self._write_stream = None
        if self._output_file is not None:
            self._output_file.close()
            self._output_file = None

    def __del__(self) -> None:
        if getattr(self, "_output_file", None) is not None:
            self.teardown(stage=self._stage)

    # -- the report's destination ---------------------------------------------------------------

    def _prepare_filename(
        self, action_name: str | None = None, extension: str = ".txt", split_token: str = "-"
    ) -> str:
        """``<stage>-<filename>-<local_rank>-<action>`` + ``extension``, the parts there are."""
        parts = [
            p
            for p in (
                self._stage,
                self.filename or None,
                None if self._local_rank is None else str(self._local_rank),
                action_name,
            )
            if p is not None
        ]
        return split_token.join(parts) + extension

    def _prepare_streams(self) -> None:
        if self._write_stream is not None:
            return
        if self.filename and self.dirpath:
            os.makedirs(os.fspath(self.dirpath), exist_ok=True)
            path = os.path.join(os.fspath(self.dirpath), self._prepare_filename())
            self._output_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in teardown)
            self._write_stream = self._output_file.write
        else:
            self._write_stream = self._rank_zero_info

    def _rank_zero_info(self, text: str) -> None:
        if self._local_rank in (None, 0):
            from treadle.plugin_manager import run_logger

            run_logger()  # as Lightning's: printed to stderr unless the application set logging
            log.info(text)

    def _stats_to_str(self, stats: dict[str, str]) -> str:
        stage = f"{self._stage.upper()} " if self._stage is not None else ""
        out = [stage + "Profiler Report"]
        for action, value in stats.items():
            header = f"Profile stats for: {action}"
            if self._local_rank is not None:
                header += f" rank: {self._local_rank}"
            out += [header, value]
        return os.linesep.join(out)


class PassThroughProfiler(Profiler):
    """Records nothing: ``trainer.profiler`` when ``Trainer(profiler=None)``, so code may always
    write ``with self.trainer.profiler.profile("x"):``."""

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass


class SimpleProfiler(Profiler):
    """The duration of each action: mean, number of calls, total and share of the run.

    :param dirpath: the report's folder (default: ``trainer.log_dir``).
    :param filename: write the report to ``<stage>-<filename>.txt`` instead of the log.
    :param extended: add the number of calls and the share of the run's time.
    """

    def __init__(
        self, dirpath: PathLike = None, filename: str | None = None, extended: bool = True
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.current_actions: dict[str, float] = {}
        self.recorded_durations: dict[str, list[float]] = defaultdict(list)
        self.extended = extended
        self.start_time = time.perf_counter()

    def start(self, action_name: str) -> None:
        if action_name in self.current_actions:
            raise ValueError(f"Attempted to start {action_name} which has already started.")
        self.current_actions[action_name] = time.perf_counter()

    def stop(self, action_name: str) -> None:
        end = time.perf_counter()
        if action_name not in self.current_actions:
            raise ValueError(
                f"Attempting to stop recording an action ({action_name}) which was never started."
            )
        self.recorded_durations[action_name].append(end - self.current_actions.pop(action_name))

    def _make_report_extended(
        self,
    ) -> tuple[list[tuple[str, float, int, float, float]], int, float]:
        total_duration = time.perf_counter() - self.start_time
        report = [
            (a, math.fsum(d) / len(d), len(d), math.fsum(d), 100.0 * math.fsum(d) / total_duration)
            for a, d in self.recorded_durations.items()
        ]
        report.sort(key=lambda row: row[4], reverse=True)
        return report, sum(row[2] for row in report), total_duration

    def _make_report(self) -> list[tuple[str, float, float]]:
        report = [
            (a, math.fsum(d) / len(d), math.fsum(d)) for a, d in self.recorded_durations.items()
        ]
        report.sort(key=lambda row: row[1], reverse=True)
        return report

    def summary(self) -> str:
        """Lightning's table: one row per action, the longest first."""
        sep = os.linesep
        out = (
            f"{self._stage.upper()} " if self._stage is not None else ""
        ) + f"Profiler Report{sep}"
        if not self.recorded_durations:
            return out
        width = max(len(k) for k in self.recorded_durations)

        def row(*cells: str) -> str:
            first, *rest = cells
            return f"{sep}|  {first:<{width}s}\t|" + "".join(f"  {c:<15}\t|" for c in rest)

        if self.extended:
            header = row(
                "Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %"
            )
            line = f"{sep}{'-' * len(header.expandtabs())}"
            report, total_calls, total = self._make_report_extended()
            out += (
                line + header + line + row("Total", "-", f"{total_calls}", f"{total:.5}", "100 %")
            )
            out += line
            for action, mean, calls, spent, share in report:
                out += row(action, f"{mean:.5}", f"{calls}", f"{spent:.5}", f"{share:.5}")
        else:
            header = row("Action", "Mean duration (s)", "Total time (s)")
            line = f"{sep}{'-' * len(header.expandtabs())}"
            out += line + header + line
            for action, mean, spent in self._make_report():
                out += row(action, f"{mean:.5}", f"{spent:.5}")
        return out + line + sep


class AdvancedProfiler(Profiler):
    """Python's ``cProfile`` for each action: the functions called inside it, by cumulative time.

    :param line_count_restriction: functions reported per action: an int, or a fraction of them.
    :param dump_stats: also write each action's raw stats to ``dirpath/<action>.prof``.
    """

    def __init__(
        self,
        dirpath: PathLike = None,
        filename: str | None = None,
        line_count_restriction: float = 1.0,
        dump_stats: bool = False,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.profiled_actions: dict[str, cProfile.Profile] = defaultdict(cProfile.Profile)
        self.line_count_restriction = line_count_restriction
        self.dump_stats = dump_stats
        self._active: list[str] = []  # nested actions; only the innermost records

    def start(self, action_name: str) -> None:
        if self._active:  # one cProfile may be enabled at a time: the outer one pauses
            self.profiled_actions[self._active[-1]].disable()
        self._active.append(action_name)
        self.profiled_actions[action_name].enable()

    def stop(self, action_name: str) -> None:
        profile = self.profiled_actions.get(action_name)
        if profile is None:
            raise ValueError(
                f"Attempting to stop recording an action ({action_name}) which was never started."
            )
        profile.disable()
        if action_name in self._active:
            self._active.remove(action_name)
        if self._active:
            self.profiled_actions[self._active[-1]].enable()

    def summary(self) -> str:
        stats = {}
        for action, profile in self.profiled_actions.items():
            if self.dump_stats:
                self._dump(action, profile)
            text = io.StringIO()
            pstats.Stats(profile, stream=text).strip_dirs().sort_stats("cumulative").print_stats(
                self.line_count_restriction
            )
            stats[action] = text.getvalue()
        return self._stats_to_str(stats)

    def _dump(self, action: str, profile: cProfile.Profile) -> None:
        if not self.dirpath:
            raise ValueError(
                "AdvancedProfiler(dump_stats=True) needs a folder for the `.prof` files: pass "
                "`dirpath=`, or run it in a Trainer (its `log_dir`)."
            )
        os.makedirs(os.fspath(self.dirpath), exist_ok=True)
        safe = re.sub(r'[/\\:*?"<>|\n\r\t]', "_", action)
        profile.dump_stats(
            os.path.join(os.fspath(self.dirpath), self._prepare_filename(safe, extension=".prof"))
        )

    def teardown(self, stage: str | None) -> None:
        super().teardown(stage=stage)
        self.profiled_actions.clear()
        self._active.clear()

    def __reduce__(self) -> tuple:
        # cProfile.Profile objects do not pickle (deepcopy, ddp_spawn): start afresh
        return (
            type(self),
            (),
            {
                "dirpath": self.dirpath,
                "filename": self.filename,
                "line_count_restriction": self.line_count_restriction,
                "dump_stats": self.dump_stats,
            },
        )


class PyTorchProfiler(Profiler):
    """``torch.profiler`` over the run: each action is a ``record_function`` named
    ``[pl][profile]<action>`` (Lightning's names), the operators inside it are recorded, and the
    report is ``key_averages().table(...)``; ``function_events`` holds the events afterwards.

    :param export_to_chrome: also write a Chrome trace, ``dirpath/<stage>-<filename>.pt.trace.json``.
    :param row_limit: rows of the report's table (-1: all).
    :param sort_by_key: the table's sort key (default ``"cpu_time_total"``, or
        ``"device_time_total"`` when ``activities`` holds CUDA).
    :param group_by_input_shapes: group the table by operator input shapes.
    :param table_kwargs: more arguments of ``key_averages().table``.
    :param profiler_kwargs: arguments of ``torch.profiler.profile`` (``record_shapes``,
        ``profile_memory``, ``with_stack``, ...); ``schedule`` and ``on_trace_ready`` are
        accepted and not used (the whole run is recorded, the trace written at its end).
    :param emit_nvtx: accepted and not used (Lightning's NVTX ranges; use ``nsys`` directly).
    :param record_module_names: accepted and not used (operators are not named by module).
    """

    def __init__(
        self,
        dirpath: PathLike = None,
        filename: str | None = None,
        group_by_input_shapes: bool = False,
        emit_nvtx: bool = False,
        export_to_chrome: bool = True,
        row_limit: int = 20,
        sort_by_key: str | None = None,
        record_module_names: bool = True,
        table_kwargs: dict[str, Any] | None = None,
        **profiler_kwargs: Any,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self._group_by_input_shapes = group_by_input_shapes and profiler_kwargs.get(
            "record_shapes", False
        )
        self._emit_nvtx = emit_nvtx
        self._export_to_chrome = export_to_chrome
        self._row_limit = row_limit
        self._sort_by_key = sort_by_key or _default_sort_key(profiler_kwargs)
        self._record_module_names = record_module_names
        self._table_kwargs = dict(table_kwargs or {})
        for key in self._table_kwargs:
            if key in ("row_limit", "sort_by"):
                raise KeyError(
                    f"Found invalid table_kwargs key: {key}. This is already a positional "
                    f"argument of the Profiler."
                )
            valid = _table_arguments()
            if key not in valid:
                raise KeyError(
                    f"Found invalid table_kwargs key: {key}. Valid keys: "
                    f"{', '.join(sorted(valid))}."
                )
        self._schedule = profiler_kwargs.pop("schedule", None)  # accepted; every step recorded
        profiler_kwargs.pop("on_trace_ready", None)  # the trace is exported by describe()
        self._profiler_kwargs = profiler_kwargs
        self.profiler: Any = None
        self.function_events: Any = None
        self._recording: dict[str, list[Any]] = defaultdict(list)

    def start(self, action_name: str) -> None:
        import torch

        if self.profiler is None:
            self.profiler = torch.profiler.profile(**self._profiler_kwargs)
            self.profiler.__enter__()
        record = torch.autograd.profiler.record_function(f"[pl][profile]{action_name}")
        record.__enter__()
        self._recording[action_name].append(record)

    def stop(self, action_name: str) -> None:
        records = self._recording.get(action_name)
        if records:
            records.pop().__exit__(None, None, None)

    def _finish(self) -> None:
        """Close the open actions and the torch profiler; keep its events."""
        for records in self._recording.values():
            while records:
                records.pop().__exit__(None, None, None)
        if self.profiler is None:
            return
        self.profiler.__exit__(None, None, None)
        self.function_events = self.profiler.events()
        if self._export_to_chrome and self.dirpath:
            os.makedirs(os.fspath(self.dirpath), exist_ok=True)
            self.profiler.export_chrome_trace(
                os.path.join(
                    os.fspath(self.dirpath), self._prepare_filename(extension=".pt.trace.json")
                )
            )
        self._events_table = self.profiler.key_averages(
            group_by_input_shape=self._group_by_input_shapes
        ).table(sort_by=self._sort_by_key, row_limit=self._row_limit, **self._table_kwargs)
        self.profiler = None

    def summary(self) -> str:
        if self.profiler is not None:
            self._finish()
        table = getattr(self, "_events_table", None)
        if table is None:
            return ""
        return self._stats_to_str({"records": table})

    def teardown(self, stage: str | None) -> None:
        if self.profiler is not None:
            self._finish()
        super().teardown(stage=stage)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # a running torch profiler does not pickle: start afresh
        state.update(profiler=None, _recording=defaultdict(list), _output_file=None)
        state["_write_stream"] = None
        return state


def _table_arguments() -> set[str]:
    """The arguments of ``torch``'s ``EventList.table`` besides ``sort_by`` and ``row_limit``."""
    import inspect

    from torch.autograd.profiler_util import EventList

    names = set(inspect.signature(EventList.table).parameters)
    return names - {"self", "sort_by", "row_limit"}


def _default_sort_key(profiler_kwargs: dict[str, Any]) -> str:
    """The device's total time when the profile records a GPU (``activities`` with CUDA),
    else the CPU's."""
    activities = profiler_kwargs.get("activities") or ()
    on_gpu = any(getattr(a, "name", "") == "CUDA" for a in activities)
    return "device_time_total" if on_gpu else "cpu_time_total"


# Trainer(profiler="name")
PROFILERS: dict[str, type[Profiler]] = {
    "simple": SimpleProfiler,
    "advanced": AdvancedProfiler,
    "pytorch": PyTorchProfiler,
}


def profiler_problem(value: Any) -> str | None:
    """Why ``value`` cannot be ``Trainer(profiler=...)``; None when it can."""
    if value is None or isinstance(value, Profiler):
        return None
    if isinstance(value, str):
        if value.lower() in PROFILERS:
            return None
        return (
            f"When passing string value for the `profiler` parameter of `Trainer`, it can only "
            f"be one of {', '.join(repr(k) for k in PROFILERS)}; or pass a profiler object "
            f"(`treadle.profilers.SimpleProfiler(...)`), or None for no profiling"
        )
    if isinstance(value, type) and issubclass(value, Profiler):
        return (
            f"`{value.__name__}` is a class, not a profiler: pass an instance, "
            f"`profiler={value.__name__}(...)`. Have you forgotten the `()`?"
        )
    return (
        f"a profiler is None, one of {', '.join(repr(k) for k in PROFILERS)}, or an instance of "
        f"a `treadle.profilers.Profiler` subclass; got a {type(value).__name__}"
    )


def make_profiler(value: Any) -> Profiler:
    """``trainer.profiler`` for ``Trainer(profiler=value)`` (checked by ``profiler_problem``)."""
    if value is None:
        return PassThroughProfiler()
    if isinstance(value, str):
        return PROFILERS[value.lower()]()
    return value


__all__ = [
    "AdvancedProfiler",
    "PassThroughProfiler",
    "Profiler",
    "PyTorchProfiler",
    "SimpleProfiler",
]

from treadle import _lightning_paths  # noqa: E402

_lightning_paths.register(__name__)  # lightning.pytorch.profilers.simple, ...: this module
