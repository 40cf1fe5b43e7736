"""A small interpreter of the Amazon States Language subset the nightly state machine uses.

The wiring tests run the definition CloudFormation will create against stand-in task results,
so "a store at the threshold goes to the container" is a run, not a reading of the JSON.
Covered: reference paths (``$``, ``$.a.b``, ``$$.Execution.Id``), ``Parameters`` and
``ResultSelector`` with ``.$`` keys and the intrinsics ``States.StringToJson`` and
``States.StringSplit``, ``ResultPath``, Choice rules (And/Or/Not, Numeric*, Numeric*Path,
BooleanEquals, StringEquals), Retry and Catch (error names, ``States.ALL``), Pass, Task and Fail.
A path that does not resolve is ``States.Runtime``, which no Retry or Catch handles (as in AWS).
Anything outside the subset raises ``NotImplementedError``: a definition that outgrows this
interpreter fails its tests instead of being half understood.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RUNTIME = "States.Runtime"
MAX_TRANSITIONS = 100
_INTRINSIC = re.compile(r"^(States\.\w+)\((.*)\)$", re.DOTALL)
_ARGUMENT = re.compile(r"\s*(?:'((?:[^'\\]|\\.)*)'|(\$[^,\s)]*))\s*(?:,|$)")
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


class StatesError(Exception):
    """An error raised by a state (``name`` is the ASL error name a Retry/Catch matches)."""

    def __init__(self, name: str, cause: str = "") -> None:
        super().__init__(f"{name}: {cause}")
        self.name = name
        self.cause = cause


# (state name, resource, resolved Parameters) -> the service's raw result, or raise StatesError
Tasks = Callable[[str, str, dict[str, Any]], Any]


@dataclass
class Run:
    """What one execution did."""

    path: list[str] = field(default_factory=list)  # states entered; a retried Task once per try
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # each Task attempt
    output: Any = None
    error: str | None = None  # the execution failed with this error (Fail state or unhandled)

    def params(self, state: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == state]


def _path(path: str, data: Any, context: dict[str, Any]) -> Any:
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    if not path.startswith("$"):
        raise NotImplementedError(f"not a reference path: {path!r}")
    value = root
    for key in filter(None, rest.split(".")):
        if not isinstance(value, dict) or key not in value:
            raise StatesError(RUNTIME, f"{path} not found")
        value = value[key]
    return value


def _intrinsic(text: str, data: Any, context: dict[str, Any]) -> Any:
    match = _INTRINSIC.match(text)
    if not match:
        return _path(text, data, context)
    name, raw = match.groups()
    args: list[Any] = []
    pos = 0
    while pos < len(raw):
        arg = _ARGUMENT.match(raw, pos)
        if not arg or arg.end() == pos:
            raise NotImplementedError(f"intrinsic arguments {raw!r}")
        literal, path = arg.groups()
        args.append(literal.replace("\\'", "'") if path is None else _path(path, data, context))
        pos = arg.end()
    if name == "States.StringToJson":
        try:
            return json.loads(args[0])
        except ValueError:
            raise StatesError(RUNTIME, f"{text}: not JSON") from None
    if name == "States.StringSplit":
        return [part for part in args[0].split(args[1]) if part]
    raise NotImplementedError(name)


def resolve(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A Parameters/ResultSelector block applied to ``data``."""
    if isinstance(template, list):
        return [resolve(item, data, context) for item in template]
    if not isinstance(template, dict):
        return template
    out = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _intrinsic(value, data, context)
        else:
            out[key] = resolve(value, data, context)
    return out


def _with_result(data: Any, result: Any, result_path: str | None) -> Any:
    if result_path is None:
        return data
    if result_path == "$":
        return result
    keys = result_path.removeprefix("$.").split(".")
    out = copy.deepcopy(data)
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = result
    return out


def choose(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    """One Choice rule (without its Next) against the state input."""
    if "And" in rule:
        return all(choose(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(choose(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not choose(rule["Not"], data, context)
    (operator,) = (k for k in rule if k not in ("Variable", "Next"))
    value = _path(rule["Variable"], data, context)
    other = rule[operator]
    if operator.endswith("Path"):
        operator, other = operator[: -len("Path")], _path(other, data, context)
    for kind, check in (
        ("Numeric", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
        ("String", lambda v: isinstance(v, str)),
        ("Boolean", lambda v: isinstance(v, bool)),
    ):
        if operator.startswith(kind):
            compare = _COMPARISONS.get(operator[len(kind) :])
            if compare is None or (kind == "Boolean" and operator != "BooleanEquals"):
                raise NotImplementedError(operator)
            return check(value) and check(other) and compare(value, other)
    raise NotImplementedError(operator)


def _matches(names: list[str], error: str) -> bool:
    return error in names or ("States.ALL" in names and error != RUNTIME)


def _task(
    name: str, state: dict[str, Any], data: Any, tasks: Tasks, run: Run, context: dict[str, Any]
) -> tuple[Any, str | None]:
    """The Task's output and the state to go to next (None: the execution ends)."""
    tries: dict[int, int] = {}
    while True:
        params = resolve(state.get("Parameters", {}), data, context)
        run.calls.append((name, params))
        try:
            raw = tasks(name, state["Resource"], params)
            result = (
                resolve(state["ResultSelector"], raw, context) if "ResultSelector" in state else raw
            )
            return _with_result(data, result, state.get("ResultPath", "$")), state.get("Next")
        except StatesError as exc:
            if exc.name == RUNTIME:
                raise
            retriers = [
                i
                for i, r in enumerate(state.get("Retry", []))
                if _matches(r["ErrorEquals"], exc.name)
            ]
            if retriers:
                first = retriers[0]
                tries[first] = tries.get(first, 0) + 1
                if tries[first] <= state["Retry"][first].get("MaxAttempts", 3):
                    run.path.append(name)
                    continue
            for catcher in state.get("Catch", []):
                if _matches(catcher["ErrorEquals"], exc.name):
                    failure = {"Error": exc.name, "Cause": exc.cause}
                    return _with_result(data, failure, catcher.get("ResultPath", "$")), catcher[
                        "Next"
                    ]
            raise


def execute(
    definition: dict[str, Any], data: Any, tasks: Tasks, execution_id: str = "exec-1"
) -> Run:
    """Run ``definition`` on ``data``; errors a state does not handle end it as failed."""
    context = {"Execution": {"Id": execution_id, "Input": data}}
    run = Run()
    name: str | None = definition["StartAt"]
    for _ in range(MAX_TRANSITIONS):
        assert name is not None
        state = definition["States"][name]
        run.path.append(name)
        kind = state["Type"]
        try:
            if kind == "Task":
                data, name = _task(name, state, data, tasks, run, context)
            elif kind == "Choice":
                rules = [r for r in state["Choices"] if choose(r, data, context)]
                name = rules[0]["Next"] if rules else state["Default"]
                continue
            elif kind == "Pass":
                result = state.get("Result", data)
                if "Parameters" in state:
                    result = resolve(state["Parameters"], data, context)
                data, name = (
                    _with_result(data, result, state.get("ResultPath", "$")),
                    state.get("Next"),
                )
            elif kind == "Fail":
                run.error = state["Error"]
                return run
            else:
                raise NotImplementedError(kind)
        except StatesError as exc:
            run.error = exc.name
            return run
        if name is None:  # "End": true, reached without a Catch redirecting
            run.output = data
            return run
    raise AssertionError(f"more than {MAX_TRANSITIONS} transitions: {run.path[-10:]}")
