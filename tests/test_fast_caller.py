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


# -- Hooks.sequence: several hooks compiled into one function ----------------------------------


class SeqSpecs:
    @spec
    def note(self, x):
        """a notification: its results are ignored"""

    @spec(firstresult=True)
    def change(self, x):
        """returns a new x, or None for "unchanged\""""

    @spec(firstresult=True)
    def make(self, x, y):
        """returns the new x"""


def _seq_pm(*plugins):
    pm = pluggy.PluginManager("fc")
    pm.add_hookspecs(SeqSpecs)
    for p in plugins:
        pm.register(p)
    return pm


def _sequence():
    from treadle._callers import Sequence

    return Sequence(
        "seq",
        ("x", "y"),
        (("note", None), ("change", "?x"), ("make", "=x"), ("note", None)),
        returns="x",
    )


class Changer:
    def __init__(self, log, change=None):
        self.log, self.change_to = log, change

    @impl
    def note(self, x):
        self.log.append(("note", x))
        return "ignored"

    @impl
    def change(self, x):
        self.log.append(("change", x))
        return self.change_to

    @impl
    def make(self, x, y):
        self.log.append(("make", x, y))
        return x + y


def _by_hand(pm, x, y):
    """The sequence as the loop would write it with pluggy's own callers."""
    pm.hook.note(x=x)
    changed = pm.hook.change(x=x)
    x = x if changed is None else changed
    x = pm.hook.make(x=x, y=y)
    pm.hook.note(x=x)
    return x


@pytest.mark.parametrize("change", [None, 10], ids=["unchanged", "changed"])
def test_a_sequence_calls_what_pluggy_calls_in_the_same_order(change):
    from treadle._callers import Hooks

    seq_log, hand_log = [], []
    seq_pm, hand_pm = _seq_pm(Changer(seq_log, change)), _seq_pm(Changer(hand_log, change))
    assert Hooks(seq_pm).sequence(_sequence())(1, 2) == _by_hand(hand_pm, 1, 2)
    assert seq_log == hand_log and len(seq_log) == 4


def test_a_sequence_chains_firstresult_implementations_as_pluggy():
    from treadle._callers import Hooks

    class Declines(Changer):
        @impl(tryfirst=True)
        def make(self, x, y):
            self.log.append(("declines", x, y))
            return None

    log_a, log_b = [], []
    a = Hooks(_seq_pm(Changer(log_a), Declines(log_a))).sequence(_sequence())(3, 4)
    b = _by_hand(_seq_pm(Changer(log_b), Declines(log_b)), 3, 4)
    assert a == b == 7
    assert [e for e in log_a if e[0] in ("make", "declines")] == [
        e for e in log_b if e[0] in ("make", "declines")
    ]


def test_a_sequence_leaves_out_unimplemented_hooks_and_is_none_when_empty():
    from treadle._callers import Hooks, Sequence

    class MakeOnly:
        @impl
        def make(self, x, y):
            return x * y

    hooks = Hooks(_seq_pm(MakeOnly()))
    fn = hooks.sequence(_sequence())
    assert fn(3, 4) == 12
    # only `make` remains: the unimplemented hooks are not in the compiled code
    assert "note" not in fn.__code__.co_names and "change" not in fn.__code__.co_names
    nothing = Sequence("nothing", ("x",), (("note", None), ("change", "?x")))
    assert hooks.sequence(nothing) is None
    assert hooks.optional("note") is None and hooks.optional("make") is not None


def test_a_traced_sequence_keeps_and_reports_every_hook():
    from treadle._callers import Hooks, Sequence, Tracer

    lines = []
    nothing = Sequence("nothing", ("x",), (("note", None), ("change", "?x")))
    traced = Hooks(_seq_pm(), Tracer(lines.append)).sequence(nothing)
    assert traced is not None
    traced(1)
    assert lines == ["treadle hook note -> [-]", "treadle hook change -> [-]"]


def test_the_cores_identity_defaults_are_left_out_unless_asked():
    """``scale_loss`` (identity) and ``configure_gradient_clipping`` (nothing without a
    ``gradient_clip_val``) are left out when only the core implements them."""
    import treadle
    from treadle import _defaults
    from treadle.step import BACKWARD, BEFORE_STEP

    trainer = treadle.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    hooks = trainer.plugin_manager.hooks()
    backward = hooks.sequence(BACKWARD)
    # scale_loss left out, the core's backward alone: that function is the whole sequence
    assert backward is _defaults.backward
    assert hooks.sequence(BEFORE_STEP) is None
    clip = hooks.sequence(BEFORE_STEP, asked=["configure_gradient_clipping"])
    assert clip is not None


def test_an_only_implementation_with_the_specs_parameters_is_its_own_caller():
    """No wrapper frame and no ``**kwargs`` dict: how the core's per-step defaults are called."""

    class Exact:
        @impl
        def first(self, a, b):
            return a - b

    class Subset:
        @impl
        def first(self, b):
            return -b

    exact, subset = _pm(Exact()).hook.first, _pm(Subset()).hook.first
    assert fast_caller(exact) == exact.get_hookimpls()[0].function
    assert fast_caller(exact)(a=5, b=2) == exact(a=5, b=2) == 3
    generated = fast_caller(subset)  # a subset of the arguments: a generated caller
    assert generated != subset.get_hookimpls()[0].function
    assert generated(a=5, b=2) == subset(a=5, b=2) == -2


def test_an_implementation_taking_positional_arguments_only_keeps_a_generated_caller():
    """A wrapped implementation (``*args``, as a profiler's timed copy) whose recorded argument
    names equal the spec's still needs the generated caller: it takes no keywords."""
    real = _pm(Plain([], 7)).hook.first
    impl_ = real.get_hookimpls()[0]
    original = impl_.function

    def timed(*args):
        return original(*args)

    impl_.function = timed  # pluggy's argnames still read (a, b)
    caller = fast_caller(real)
    assert caller is not timed
    assert caller(a=1, b=2) == 7


def test_a_lone_implementation_with_the_sequences_parameters_is_the_sequence():
    """No generated frame around one call: the implementation itself, when it takes exactly the
    sequence's parameters and its result is the sequence's (or the sequence's means nothing)."""
    from treadle._callers import Hooks, Sequence

    class Make:
        @impl
        def make(self, x, y):
            return x + y

    hooks = Hooks(_seq_pm(Make()))
    made = Sequence("made", ("x", "y"), (("make", "=x"),), returns="x")
    assert hooks.sequence(made) == hooks._pm.hook.make.get_hookimpls()[0].function
    assert hooks.sequence(made)(2, 3) == 5
    ignored = Sequence("ignored", ("x", "y"), (("make", None),))
    assert hooks.sequence(ignored) == hooks._pm.hook.make.get_hookimpls()[0].function
    # "?x" (None keeps x) and other parameters keep a generated function, which still works
    kept = Sequence("kept", ("x", "y"), (("make", "?x"),), returns="x")
    assert hooks.sequence(kept).__name__ == "kept"
    assert hooks.sequence(kept)(2, 3) == 5
    wider = Sequence("wider", ("x", "y", "z"), (("make", "=x"),), returns="x")
    assert hooks.sequence(wider).__name__ == "wider"
    assert hooks.sequence(wider)(2, 3, 4) == 5


def test_the_transfer_is_left_out_only_where_the_cpu_is_the_only_device(monkeypatch):
    """``transfer_batch_to_device``: the core's default moves nothing when the CPU is the only
    device a tensor can be on; with another device available (or an implementation of the hook,
    or a tracer) it is called."""
    import torch

    import treadle
    from treadle.loop import TRANSFER, transfer_asked

    def trainer(**kwargs):
        return treadle.Trainer(
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            **kwargs,
        )

    t = trainer()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if hasattr(torch, "xpu"):
        monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    assert transfer_asked(t) == ()
    assert t.plugin_manager.hooks().sequence(TRANSFER, transfer_asked(t)) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU the batch could be on
    assert transfer_asked(t) == ("transfer_batch_to_device",)
    transfer = t.plugin_manager.hooks().sequence(TRANSFER, transfer_asked(t))
    assert transfer is not None
    batch = [torch.ones(2), torch.zeros(1)]
    assert transfer(t, None, batch, torch.device("cpu"), 0) is batch

    class Transfers:
        @treadle.hookimpl
        def transfer_batch_to_device(self, batch):
            return ("moved", batch)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    t = trainer(plugins=[Transfers()])
    transfer = t.plugin_manager.hooks().sequence(TRANSFER, transfer_asked(t))
    assert transfer is not None
    assert transfer(t, None, 1, torch.device("cpu"), 0) == ("moved", 1)


def test_an_adapted_method_that_only_hands_arguments_on_is_called_itself():
    """A ``Callback``/``Module`` hook method whose parameters each take one hook argument is
    called by the generated caller directly (no adapter frame in between); methods that need
    the adapter (``*args``, defaults, keyword-only parameters) keep it. Same results either way."""
    import sys

    import treadle
    from treadle._adapters import adapt_object
    from treadle._callers import direct_call

    seen = []

    class Plain(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(("plain", trainer, pl_module, outputs, batch, batch_idx))
            # who called: a generated caller (its namespace holds fn0...) or an adapter ("method")
            seen.append("caller" if "fn0" in sys._getframe(1).f_globals else "adapter")

    class Starred(treadle.Callback):
        def on_train_batch_end(self, _, pl_module, *args):
            seen.append(("starred", _, pl_module, args))

    class Defaulted(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, extra=7):
            seen.append(("defaulted", extra))

    specs = {"on_train_batch_end": ("trainer", "module", "outputs", "batch", "batch_idx")}
    pm = pluggy.PluginManager("treadle")
    from treadle import hookspecs

    pm.add_hookspecs(hookspecs)
    plain, starred, defaulted = (
        adapt_object(c(), treadle.Callback, specs) for c in (Plain, Starred, Defaulted)
    )
    for plugin in (plain, starred, defaulted):
        pm.register(plugin)
    impls = {i.plugin: i for i in pm.hook.on_train_batch_end.get_hookimpls()}
    function, args = direct_call(impls[plain])
    assert function.__self__ is plain.owner
    assert args == ("trainer", "module", "outputs", "batch", "batch_idx")
    assert direct_call(impls[starred])[0] is impls[starred].function  # the adapter
    assert direct_call(impls[defaulted])[0] is impls[defaulted].function
    caller = fast_caller(pm.hook.on_train_batch_end)
    caller(trainer="t", module="m", outputs="o", batch="b", batch_idx=3)
    by_pluggy = list(seen)
    seen.clear()
    pm.hook.on_train_batch_end(trainer="t", module="m", outputs="o", batch="b", batch_idx=3)
    assert [s for s in seen if isinstance(s, tuple)] == [
        s for s in by_pluggy if isinstance(s, tuple)
    ]
    assert ("plain", "t", "m", "o", "b", 3) in by_pluggy
    assert ("starred", "t", "m", ("o", "b", 3)) in by_pluggy
    assert ("defaulted", 7) in by_pluggy
    assert "caller" in by_pluggy and "adapter" in seen  # no adapter frame on the fast path


def test_the_closure_builds_outputs_only_where_something_reads_them():
    """The automatic closure leaves out the detached loss and the outputs dict (``lean``) only
    when nothing can read them: the core steps the optimizer (SGD: its step() calls the closure
    once and drops the result) and nothing implements ``on_train_batch_end``. An
    ``on_train_batch_end``, an LBFGS (its step() reads the closure's loss) or an
    ``optimizer_step`` override each turn it off, and each still gets Lightning's values."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import treadle

    seen: dict = {}

    class Model(treadle.Module):
        def __init__(self, opt="sgd"):
            super().__init__()
            self.layer, self.opt = torch.nn.Linear(4, 1), opt

        def training_step(self, batch, batch_idx):
            loss = self.layer(batch[0]).pow(2).mean()
            seen.setdefault("losses", []).append(loss.detach().clone())
            return loss

        def configure_optimizers(self):
            if self.opt == "lbfgs":
                return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=1)
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def on_train_epoch_end(self):
            seen.setdefault("lean", []).append(self.trainer._step.closure.lean)

    class Outputs(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.setdefault("outputs", []).append(outputs["loss"])

    class Override(Model):
        def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure):
            seen.setdefault("returned", []).append(optimizer.step(closure=optimizer_closure))

    def fit(model, callbacks=()):
        seen.clear()
        data = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
        treadle.Trainer(
            accelerator="cpu",
            max_epochs=1,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            callbacks=list(callbacks),
        ).fit(model, data)
        return dict(seen)

    assert fit(Model())["lean"] == [True]
    got = fit(Model(), [Outputs()])
    assert got["lean"] == [False]
    assert [float(x) for x in got["outputs"]] == [float(x) for x in got["losses"]]
    assert fit(Model("lbfgs"))["lean"] == [False]
    got = fit(Override())
    assert got["lean"] == [False]
    assert [float(x) for x in got["returned"]] == [float(x) for x in got["losses"]]


def test_training_step_is_called_directly_only_when_the_core_alone_runs_it():
    """When only the core implements ``run_training_step``, the step calls the Module's
    ``training_step`` itself (bound once per epoch, with or without ``batch_idx`` as its
    signature says); a plugin implementing ``run_training_step`` keeps the hook call, and its
    implementation runs. Both give the same training."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import treadle
    from treadle import hookimpl

    class Model(treadle.Module):
        def __init__(self, manual=False):
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)
            self.automatic_optimization = not manual
            self.direct = []

        def training_step(self, batch):  # (no batch_idx: called with the batch alone)
            self.direct.append(self.trainer._step.training_step is not None)
            loss = self.layer(batch[0]).pow(2).mean()
            if not self.automatic_optimization:
                opt = self.optimizers()
                opt.zero_grad()
                self.manual_backward(loss)
                opt.step()
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Wrapping:
        calls = 0

        @hookimpl(hookwrapper=True)
        def run_training_step(self, trainer, module, batch, batch_idx):
            Wrapping.calls += 1
            yield

    def fit(model, plugins=()):
        data = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
        treadle.Trainer(
            accelerator="cpu",
            max_epochs=2,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            plugins=list(plugins),
        ).fit(model, data)
        return model

    for manual in (False, True):
        direct = fit(Model(manual))
        assert direct.direct == [True] * 4
        Wrapping.calls = 0
        hooked = fit(Model(manual), [Wrapping()])
        assert hooked.direct == [False] * 4 and Wrapping.calls == 4
        assert torch.equal(direct.layer.weight, hooked.layer.weight)
