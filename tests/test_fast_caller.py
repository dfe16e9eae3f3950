"""``fast_caller`` behaves exactly as pluggy's own hook caller.

Every case runs the same registrations twice -- through ``pm.hook.<name>(...)`` and through
the caller ``fast_caller`` generated -- and compares results, exceptions and the calls made.
"""

from __future__ import annotations

import pluggy
import pytest

from treadle.plugin_manager import fast_caller

spec = pluggy.HookspecMarker("fc")
impl = pluggy.HookimplMarker("fc")


class Specs:
    @spec(firstresult=True)
    def first(self, a, b):
        """firstresult"""

    @spec
    def every(self, a, b):
        """collects results"""


def _pm(*plugins):
    pm = pluggy.PluginManager("fc")
    pm.add_hookspecs(Specs)
    for p in plugins:
        pm.register(p)
    return pm


class Plain:
    def __init__(self, log, result=None, error=None, tag="plain"):
        self.log, self.result, self.error, self.tag = log, result, error, tag

    @impl
    def first(self, a, b):
        self.log.append((self.tag, a, b))
        if self.error:
            raise self.error
        return self.result

    @impl
    def every(self, b):
        self.log.append((self.tag, b))
        if self.error:
            raise self.error
        return self.result


def _wrapper(mode):
    class Wrapper:
        def __init__(self, log):
            self.log = log

        def _run(self):
            self.log.append("setup")
            if mode == "no-yield":
                return "never"
            if mode == "setup-raises":
                raise KeyError("setup")
            try:
                result = yield
            except ValueError as exc:
                self.log.append(("caught", str(exc)))
                if mode == "swallow":
                    return "swallowed"
                raise
            except BaseException as exc:  # what reached the wrapper, and when
                self.log.append(("saw", type(exc).__name__))
                raise
            self.log.append(("got", result))
            if mode == "twice":
                yield
            if mode == "replace":
                return ("replaced", result)
            if mode == "teardown-raises":
                raise LookupError("teardown")
            return result

        @impl(wrapper=True)
        def first(self, a):
            return (yield from self._run())

        @impl(wrapper=True)
        def every(self, a, b):
            return (yield from self._run())

    if mode == "no-yield":  # a generator that ends before its first yield

        def _run(self):
            self.log.append("setup")
            return "never"
            yield  # unreachable: makes it a generator

        Wrapper._run = _run
    return Wrapper


def _outcome(call):
    try:
        return ("ok", call())
    except BaseException as exc:  # noqa: BLE001 - compared, not handled
        return (
            "raised",
            type(exc),
            str(exc).split(" at ")[0] if "wrap_controller" in str(exc) else str(exc),
        )


def _both(hook, make_plugins, kwargs):
    results = []
    for use_fast in (False, True):
        log = []
        pm = _pm(*make_plugins(log))
        caller = getattr(pm.hook, hook)
        if use_fast:
            fast = fast_caller(caller)
            assert fast is not caller, "expected a generated caller"
            caller = fast
        results.append((_outcome(lambda: caller(**kwargs)), log))  # noqa: B023 (_outcome calls it now)
    return results


PLAIN_CASES = {
    "value": dict(result=7),
    "none": dict(result=None),
    "raises": dict(error=ValueError("inner")),
    "raises-uncaught": dict(error=KeyError("inner")),
}
WRAPPER_MODES = [
    "pass",
    "replace",
    "swallow",
    "twice",
    "no-yield",
    "setup-raises",
    "teardown-raises",
]


@pytest.mark.parametrize("hook", ["first", "every"])
@pytest.mark.parametrize("plain", sorted(PLAIN_CASES))
@pytest.mark.parametrize("mode", [None, *WRAPPER_MODES])
def test_one_implementation_in_an_optional_wrapper(hook, plain, mode):
    def plugins(log):
        found = [Plain(log, **PLAIN_CASES[plain])]
        if mode is not None:
            found.append(_wrapper(mode)(log))
        return found

    via_pluggy, via_fast = _both(hook, plugins, {"a": 1, "b": 2})
    assert via_fast == via_pluggy


@pytest.mark.parametrize("hook", ["first", "every"])
@pytest.mark.parametrize("mode", [None, "pass", "replace"])
def test_no_plain_implementation(hook, mode):
    def plugins(log):
        return [] if mode is None else [_wrapper(mode)(log)]

    via_pluggy, via_fast = _both(hook, plugins, {"a": 1, "b": 2})
    assert via_fast == via_pluggy


class WithDefault:
    @impl
    def first(self, a, b=5):
        return (a, b)


class Second:
    @impl
    def first(self, a, b):
        return "second"


class OldStyle:
    @impl(hookwrapper=True)
    def first(self, a):
        yield


@pytest.mark.parametrize("hook", ["first", "every"])
@pytest.mark.parametrize(
    "results",
    [
        (None, None, None),
        (None, 2, 3),
        (1, None, 3),
        (1, 2, 3),
        (None, None, ValueError("last")),
        (None, KeyError("mid"), 3),
    ],
)
@pytest.mark.parametrize("mode", [None, "pass", "replace", "swallow"])
def test_several_implementations_in_call_order(hook, results, mode):
    def plugins(log):
        found = [
            Plain(log, error=r, tag=k) if isinstance(r, Exception) else Plain(log, result=r, tag=k)
            for k, r in enumerate(results)
        ]
        if mode is not None:
            found.append(_wrapper(mode)(log))
        return found

    via_pluggy, via_fast = _both(hook, plugins, {"a": 1, "b": 2})
    assert via_fast == via_pluggy


@pytest.mark.parametrize(
    "plugins",
    [[WithDefault()], [Plain([], 1), OldStyle()]],
    ids=["default-argument", "old-style-wrapper"],
)
def test_cases_it_leaves_to_pluggy(plugins):
    caller = _pm(*plugins).hook.first
    assert fast_caller(caller) is caller


def test_tracing_wraps_the_caller_that_runs_untraced():
    """Tracing observes the generated caller; it does not switch to pluggy's (datasette's rule)."""
    from treadle._callers import Hooks, Tracer

    log, lines = [], []
    plugin = Plain(log, 1)
    pm = _pm(plugin)
    traced = Hooks(pm, Tracer(lines.append)).first
    assert traced(a=1, b=2) == fast_caller(pm.hook.first)(a=1, b=2) == 1
    assert lines == [f"treadle hook first -> [{pm.get_name(plugin)}]"]
    assert log == [("plain", 1, 2), ("plain", 1, 2)]
    assert traced.__closure__ is not None  # a wrapper around the generated caller
    inner = [
        c.cell_contents
        for c in traced.__closure__
        if callable(c.cell_contents) and getattr(c.cell_contents, "__name__", "") == "first"
    ]
    assert inner and inner[0] is not pm.hook.first
