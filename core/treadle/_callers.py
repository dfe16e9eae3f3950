"""How the loop calls hooks: each hook resolved once per run into the cheapest equivalent caller.

pluggy's own ``HookCaller`` costs a few microseconds a call, even with no implementation; the
loop calls a dozen hooks a step. :func:`fast_caller` generates, for each hook, a function with
pluggy's semantics that calls the implementations directly (no implementation: a no-op; only
the core's default: one call). This is the one place where "only the core implements this
hook" is decided: the loop always calls every hook, and never guards a call site.

Hooks called one after another at one point of the step (the three of a batch transfer, the
four of a backward) are compiled together by :meth:`Hooks.sequence` into one function that
leaves out what would do nothing: a hook no plugin implements, and a hook whose only
implementation is the core's default that changes nothing for this run (``scale_loss``; the
clipping hook when no ``gradient_clip_val`` is set, see ``HookInfo.identity_default``).

Tracing (``TREADLE_TRACE_HOOKS=1``) wraps the same callers, so it observes the path that runs
(datasette's ``plugins.py`` does the same), instead of switching to another one; a traced
sequence keeps every hook, so the trace shows the ones nothing implements (``-> [-]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import FunctionType
from typing import Any, Callable

import pluggy

CORE = "treadle.core"  # the plugin name of the core's defaults (``treadle._defaults``)


def fast_caller(hook_caller: pluggy.HookCaller) -> Callable[..., Any]:
    """A callable with pluggy's semantics for this hook, cheaper when it can be.

    No implementation: a no-op. One implementation of a ``firstresult`` hook that takes
    ``**kwargs`` (the core's per-step defaults): that function. Plain implementations,
    optionally inside one new-style
    wrapper (``@hookimpl(wrapper=True)``, how precision plugins put autocast around a step):
    a function generated for this hook that takes the spec's arguments as keywords and calls
    each implementation in pluggy's order with the arguments it declares -- for a
    ``firstresult`` hook, until one returns non-None (no dict, no loop). Otherwise (old-style
    hookwrappers, several wrappers, implementation arguments with defaults, a hook without
    spec): pluggy's own caller.
    """
    spec = hook_caller.spec
    if spec is None:
        return hook_caller
    impls = hook_caller.get_hookimpls()
    wrappers = [i for i in impls if i.wrapper or i.hookwrapper]
    plain = [i for i in reversed(impls) if not (i.wrapper or i.hookwrapper)]  # call order
    if (
        len(wrappers) > 1
        or any(i.hookwrapper for i in wrappers)
        or any(getattr(i, "kwargnames", ()) for i in impls)
    ):
        return hook_caller
    firstresult = bool(spec.opts.get("firstresult"))
    if (
        firstresult
        and not wrappers
        and len(plain) == 1
        and (
            _takes_any_keyword(plain[0].function)
            or _parameters(plain[0].function) == tuple(spec.argnames)
        )
    ):
        # Its only implementation takes the spec's arguments by keyword (``**_``, or exactly
        # the spec's parameters): pluggy's result is that function's, so the function itself
        # is the caller.
        return plain[0].function
    direct = [direct_call(impl) for impl in plain]
    shape = (
        hook_caller.name,
        tuple(spec.argnames),
        firstresult,
        tuple(args for _, args in direct),
        tuple(wrappers[0].argnames) if wrappers else None,
    )
    namespace: dict[str, Any] = {f"fn{k}": function for k, (function, _) in enumerate(direct)}
    if wrappers:
        namespace.update(wrapper=wrappers[0].function, wrap_throw=_wrap_throw, wrapfail=_wrapfail)
    prototype = _CALLER_PROTOTYPES.get(shape)
    if prototype is None:
        prototype = _CALLER_PROTOTYPES[shape] = _compile_caller(shape)
    code, kwdefaults = prototype
    caller = FunctionType(code, namespace, hook_caller.name)
    caller.__kwdefaults__ = dict(kwdefaults) if kwdefaults else None
    return caller


def direct_call(impl: Any) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """What a generated caller calls for ``impl``, and the hook arguments it passes
    positionally: the implementation with its declared arguments, or, for a ``Module``'s or
    ``Callback``'s method adapted without changing its arguments
    (``treadle._adapters.adapt_method``), the bound method itself (one frame less)."""
    direct = getattr(impl.function, "treadle_direct", None)
    if direct is not None:
        return direct
    return impl.function, tuple(impl.argnames)


def _takes_any_keyword(function: Callable[..., Any]) -> bool:
    """``function`` has a ``**kwargs`` parameter (and no keyword-only ones)."""
    code = getattr(function, "__code__", None)
    return (
        code is not None
        and bool(code.co_flags & 0x08)  # CO_VARKEYWORDS
        and code.co_kwonlyargcount == 0
        and not getattr(function, "__defaults__", None)
    )


def _parameters(function: Callable[..., Any]) -> tuple[str, ...] | None:
    """The names ``function`` takes by keyword, in order (``self`` left out of a bound method);
    None when it has defaults or no code object to read."""
    code = getattr(function, "__code__", None)
    if code is None or getattr(function, "__defaults__", None):
        return None
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return tuple(names[1:] if getattr(function, "__self__", None) is not None else names)


# Compiled callers by shape (hook, spec arguments, firstresult, each implementation's
# arguments, the wrapper's): each Trainer binds its own implementations to the same code, so
# the source is compiled once per process, not once per hook per fit().
_CALLER_PROTOTYPES: dict[tuple, tuple] = {}


def _compile_caller(shape: tuple) -> tuple:
    """Compile the caller for ``shape``; return its code and keyword defaults."""
    name, argnames, firstresult, plain_args, wrapper_args = shape
    params = ", ".join(f"{a}=None" for a in argnames)
    signature = f"*, {params}" if params else ""
    calls = [f"fn{k}({', '.join(args)})" for k, args in enumerate(plain_args)]
    if firstresult:  # the first non-None result; the result is `r`
        lines = [f"r = {calls[-1]}"] if calls else ["r = None"]
        for call in reversed(calls[:-1]):
            lines = [f"r = {call}", "if r is None:", *(f"    {line}" for line in lines)]
    else:  # every non-None result, in call order
        lines = ["r = []"]
        for call in calls:
            lines += [f"x = {call}", "if x is not None:", "    r.append(x)"]
    if wrapper_args is None:
        body = "\n    ".join([*lines, "return r"])
    else:
        # pluggy's _multicall for one new-style wrapper: set-up to the yield, the
        # implementations, then the result sent in (or their exception thrown in).
        inner = "\n        ".join(lines)
        body = "\n    ".join(
            [
                f"gen = wrapper({', '.join(wrapper_args)})",
                "try:",
                "    next(gen)",
                "except StopIteration:",
                "    wrapfail(gen, 'did not yield')",
                "try:",
                f"    {inner}",
                "except BaseException as exc:",
                "    return wrap_throw(gen, exc)",
                "try:",
                "    gen.send(r)",
                "except StopIteration as stop:",
                "    return stop.value",
                "gen.close()",
                "wrapfail(gen, 'has second yield')",
            ]
        )
    scope: dict[str, Any] = {}
    exec(f"def {name}({signature}):\n    {body}\n", scope)  # noqa: S102
    function = scope[name]
    return function.__code__, function.__kwdefaults__


_SEQUENCE_CODE: dict[tuple, Any] = {}  # compiled sequences by shape, as _CALLER_PROTOTYPES


def _compile_sequence(shape: tuple) -> Any:
    name, params, kept, returns = shape
    lines = []
    for k, (argnames, result, inline, firstresult) in enumerate(kept):
        if inline is None:  # the hook's caller, with the spec's arguments by keyword
            calls = [f"f{k}_0({', '.join(f'{a}={a}' for a in argnames)})"]
        else:
            calls = [f"f{k}_{j}({', '.join(args)})" for j, args in enumerate(inline)]
        if inline is not None and not firstresult:  # every implementation; results unused
            assert result is None, "a sequence uses only firstresult hooks' results"
            lines += calls
            continue
        if inline is None or len(calls) == 1:
            got = [f"r = {calls[0]}"]
        else:  # firstresult: the first implementation that returns non-None
            got = [f"r = {calls[-1]}"]
            for call in reversed(calls[:-1]):
                got = [f"r = {call}", "if r is None:", *(f"    {line}" for line in got)]
        if result is None:
            lines += [line.replace("r = ", "", 1) if len(got) == 1 else line for line in got]
        elif result[0] == "=":
            lines += [*got, f"{result[1:]} = r"]
        else:  # "?x": the result replaces x unless it is None
            lines += [*got, "if r is not None:", f"    {result[1:]} = r"]
    lines.append(f"return {returns}" if returns else "return None")
    scope: dict[str, Any] = {}
    source = f"def {name}({', '.join(params)}):\n    " + "\n    ".join(lines) + "\n"
    exec(source, scope)  # noqa: S102
    return scope[name].__code__


def _wrap_throw(gen, exc):
    """A new-style wrapper's teardown when the implementations raised (as ``_multicall``)."""
    try:
        gen.throw(exc)
    except StopIteration as stop:
        return stop.value
    except RuntimeError as error:
        if isinstance(exc, StopIteration) and error.__cause__ is exc:
            gen.close()
            raise exc from None
        raise
    gen.close()
    _wrapfail(gen, "has second yield")


def _wrapfail(gen, msg: str) -> None:
    code = gen.gi_code
    raise RuntimeError(
        f"wrap_controller at {code.co_name!r} {code.co_filename}:{code.co_firstlineno} {msg}"
    )


class Tracer:
    """Writes one line per hook call, indented by nesting: ``treadle hook NAME -> [impls]``."""

    def __init__(self, write: Callable[[str], Any]) -> None:
        self.write = write
        self.depth = 0

    def wrap(self, name: str, impl_names: list[str], caller: Callable[..., Any]):
        label = f"treadle hook {name} -> [{', '.join(impl_names) or '-'}]"

        def traced(**kwargs: Any) -> Any:
            self.write(f"{'  ' * self.depth}{label}")
            self.depth += 1
            try:
                return caller(**kwargs)
            finally:
                self.depth -= 1

        return traced


@dataclass(frozen=True)
class Sequence:
    """Hooks called one after another, as one function of ``params`` (positional).

    :param name: the compiled function's name (tracebacks show it).
    :param params: the function's parameters; each hook gets those of its spec's arguments.
    :param calls: ``(hook, result)`` in call order. ``result`` says what the hook's result
        does: None (nothing), ``"=x"`` (it becomes ``x``), ``"?x"`` (it becomes ``x`` unless
        None: Lightning's "return the batch, changed or not" hooks).
    :param returns: the variable the function returns (None: the result means nothing; it
        may be an implementation's).
    """

    name: str
    params: tuple[str, ...]
    calls: tuple[tuple[str, str | None], ...]
    returns: str | None = None


class Hooks:
    """Attribute access to every hook of a run, each resolved once by :func:`fast_caller`.

    Built after the run's plugins are in their final order (``RunPluginManager.arrange``);
    attributes are created on first use, so hooks never called cost nothing. With a tracer,
    each caller is wrapped to report its calls; with a profiling (``treadle._profiling``, only
    for a real ``Trainer(profiler=...)``), each implementation is timed.
    """

    def __init__(
        self, pm: pluggy.PluginManager, tracer: Tracer | None = None, profiling: Any = None
    ):
        self._pm = pm
        self._tracer = tracer
        self._profiling = profiling
        # some hooks are called though nothing implements them (``_kept``)
        self._every_hook = tracer is not None or profiling is not None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        hook_caller = getattr(self._pm.hook, name)
        caller = self._traced(name, hook_caller, fast_caller(hook_caller))
        setattr(self, name, caller)
        return caller

    def _traced(self, name: str, hook_caller: pluggy.HookCaller, caller: Callable[..., Any]):
        if self._profiling is not None:
            caller = self._profiling.wrap(name, hook_caller, caller)
        if self._tracer is None:
            return caller
        names = [impl.plugin_name for impl in reversed(hook_caller.get_hookimpls())]
        return self._tracer.wrap(name, names, caller)

    def sequence(self, seq: Sequence, asked: Iterable[str] = ()) -> Callable[..., Any] | None:
        """``seq`` compiled for this run: one function calling each hook in order; None when
        there is nothing to call.

        A hook is left out when nothing implements it, or when it is an ``identity_default``
        hook that only the core implements and that this run's values do not ask for (``asked``:
        ``configure_gradient_clipping`` when ``gradient_clip_val`` is set). A hook with plain
        implementations only is inlined as :func:`fast_caller` would generate it (each
        implementation called with the arguments it declares, in pluggy's order); any other
        goes through its caller. With a tracer every hook stays, called through its traced
        caller; with a profiling, each goes through its (timed) caller, and the Module hooks
        Lightning times though not overridden stay (``_kept``).
        """
        from treadle.hookspecs import HOOKS

        asked = set(asked)
        kept, functions = [], []
        for hook, result in seq.calls:
            hook_caller = getattr(self._pm.hook, hook)
            impls = hook_caller.get_hookimpls()
            inline = None
            if not (self._every_hook and self._kept(hook, impls)):
                if not impls:
                    continue
                info = HOOKS.get(hook)
                core_only = [i.plugin_name for i in impls] == [CORE]
                if info is not None and info.identity_default and core_only and hook not in asked:
                    continue
                if self._profiling is None and not any(
                    i.wrapper or i.hookwrapper or getattr(i, "kwargnames", ()) for i in impls
                ):
                    direct = [direct_call(i) for i in reversed(impls)]  # pluggy's call order
                    inline = tuple(args for _, args in direct)
                    functions.append([function for function, _ in direct])
            if inline is None:
                functions.append([getattr(self, hook)])
            firstresult = bool(hook_caller.spec.opts.get("firstresult"))
            kept.append((tuple(hook_caller.spec.argnames), result, inline, firstresult))
        if not kept:
            return None
        if len(kept) == 1 and kept[0][2] is not None and len(functions[0]) == 1:
            # One implementation left, taking exactly the sequence's parameters, whose result
            # is the sequence's (or means nothing): that function is the sequence.
            (only,), result = functions[0], kept[0][1]
            if _parameters(only) == seq.params and (
                seq.returns is None or result == f"={seq.returns}"
            ):
                return only
        shape = (seq.name, seq.params, tuple(kept), seq.returns)
        code = _SEQUENCE_CODE.get(shape)
        if code is None:
            code = _SEQUENCE_CODE[shape] = _compile_sequence(shape)
        namespace = {
            f"f{k}_{j}": function
            for k, hook_functions in enumerate(functions)
            for j, function in enumerate(hook_functions)
        }
        return FunctionType(code, namespace, seq.name)

    def optional(self, name: str) -> Callable[..., Any] | None:
        """The hook's caller, or None when nothing implements it (and neither a tracer reports
        it nor a profiling times it, as the Module's default): for a lone per-batch hook, so the
        loop can leave out a call that would do nothing."""
        if not getattr(self._pm.hook, name).get_hookimpls() and not (
            self._every_hook and self._kept(name, [])
        ):
            return None
        return getattr(self, name)

    def _kept(self, name: str, impls: list[Any]) -> bool:
        """Whether ``name`` is called though nothing (or only an identity default) implements
        it: every hook under a tracer; a Module hook that Lightning times though not
        overridden under a profiling (``HookProfiling.module_default``)."""
        if self._tracer is not None:
            return True
        return self._profiling.module_default(name, impls) is not None

    def subset(self, name: str, remove_plugins: Iterable[Any]) -> Callable[..., Any]:
        """The hook without the given plugins' implementations (still fast when possible)."""
        remove = [p for p in remove_plugins if p is not None]
        if not remove:
            return getattr(self, name)
        hook_caller = self._pm.subset_hook_caller(name, remove)
        return self._traced(name, hook_caller, fast_caller(hook_caller))
