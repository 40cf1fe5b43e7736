"""tests/asl.py behaves as the Amazon States Language says where the wiring tests rely on it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.asl import StatesError, choose, execute, resolve


def _task(resource: str = "r", **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **extra}


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.max"}, {"n": 5, "max": 5}, True),
        ({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.max"}, {"n": 4, "max": 5}, False),
        (
            {"Variable": "$.n", "NumericGreaterThanEquals": 5},
            {"n": "9"},
            False,
        ),  # text is no number
        ({"Variable": "$.n", "NumericGreaterThanEquals": 1}, {"n": True}, False),  # nor a boolean
        ({"Variable": "$.b", "BooleanEquals": True}, {"b": True}, True),
        ({"Variable": "$.b", "BooleanEquals": True}, {"b": "true"}, False),
        ({"Not": {"Variable": "$.s", "StringEquals": "x"}}, {"s": "y"}, True),
        (
            {
                "And": [
                    {"Variable": "$.a", "NumericLessThan": 2},
                    {
                        "Or": [
                            {"Variable": "$.b", "BooleanEquals": False},
                            {"Variable": "$.c", "NumericEquals": 3},
                        ]
                    },
                ]
            },
            {"a": 1, "b": True, "c": 3},
            True,
        ),
    ],
)
def test_choice_rules(rule, data, expected) -> None:
    assert choose(rule, data, {}) is expected


def test_a_missing_variable_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as info:
        choose({"Variable": "$.missing", "NumericEquals": 1}, {}, {})
    assert info.value.name == "States.Runtime"


def test_intrinsics_and_context_paths() -> None:
    block = {
        "n.$": "States.StringToJson('1500000')",
        "flag.$": "States.StringToJson('false')",
        "ids.$": "States.StringSplit('a,b', ',')",
        "none.$": "States.StringSplit('', ',')",
        "exec.$": "$$.Execution.Id",
        "nested": {"x.$": "$.x"},
    }
    out = resolve(block, {"x": 7}, {"Execution": {"Id": "e"}})
    assert out == {
        "n": 1500000,
        "flag": False,
        "ids": ["a", "b"],
        "none": [],
        "exec": "e",
        "nested": {"x": 7},
    }


def test_retry_counts_attempts_then_catch_routes_and_result_paths_apply() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": _task(
                Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 2}],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "N"}],
                End=True,
            ),
            "N": _task("n", ResultPath=None, Next="F"),
            "F": {"Type": "Fail", "Error": "Failed"},
        },
    }
    seen = []

    def tasks(state: str, resource: str, params: dict[str, Any]) -> Any:
        seen.append(state)
        if state == "T":
            raise StatesError("Boom", "why")
        return {"ignored": True}

    run = execute(definition, {"keep": 1}, tasks)
    assert seen == ["T", "T", "T", "N"]  # one try and two retries
    assert run.path == ["T", "T", "T", "N", "F"]
    assert run.error == "Failed"


def test_states_all_does_not_catch_a_runtime_error() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": _task(
                Parameters={"x.$": "$.absent"},
                Retry=[{"ErrorEquals": ["States.ALL"]}],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "F"}],
                End=True,
            ),
            "F": {"Type": "Fail", "Error": "Caught"},
        },
    }
    run = execute(definition, {}, lambda *_: {})
    assert run.error == "States.Runtime"
    assert run.path == ["T"]


def test_an_unknown_operator_is_not_guessed() -> None:
    with pytest.raises(NotImplementedError):
        choose({"Variable": "$.s", "StringMatches": "a*"}, {"s": "ab"}, {})
