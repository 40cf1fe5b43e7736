"""template.yaml through the SAM translator, conditions resolved for one set of parameters.

What CloudFormation will create, not what the SAM source says: the wiring tests read this.
Local ``CodeUri``/``ContentUri`` paths become placeholder S3 URIs (as ``sam package`` would).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from cfn_template import load_template
from samtranslator.translator.transform import transform

_SOURCE = load_template()
_NO_VALUE = object()


class _NoManagedPolicies:
    """The translator asks for the account's managed policies only for policies given by name."""

    def load(self) -> dict[str, str]:
        return {}


def parameters(overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Template defaults with ``overrides``; lists as CloudFormation passes them."""
    values: dict[str, Any] = {}
    for name, spec in _SOURCE["Parameters"].items():
        value = (overrides or {}).get(name, spec.get("Default"))
        if spec["Type"] == "CommaDelimitedList":
            value = str(value).split(",")
        values[name] = value
    return values


def translate(overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template for ``overrides``: resources of false conditions removed,
    ``Fn::If`` resolved, ``AWS::NoValue`` dropped; other intrinsics kept as they are."""
    template = copy.deepcopy(_SOURCE)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://sam-artifacts/{key.lower()}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    values = parameters(overrides)
    cfn = transform(template, dict(overrides or {}), _NoManagedPolicies())
    truth = {name: _evaluate(c, values, cfn["Conditions"]) for name, c in cfn["Conditions"].items()}
    for section in ("Resources", "Outputs"):
        cfn[section] = {
            name: item
            for name, item in cfn.get(section, {}).items()
            if truth.get(item.get("Condition"), True)
        }
    return _resolve_ifs(cfn, truth)


def _evaluate(node: Any, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_evaluate(n, values, conditions) for n in node]
    if not isinstance(node, dict):
        return node
    ((key, arg),) = node.items()
    if key == "Ref":
        return values[arg]
    if key == "Condition":
        return _evaluate(conditions[arg], values, conditions)
    args = _evaluate(arg, values, conditions)
    match key:
        case "Fn::Equals":
            return args[0] == args[1]
        case "Fn::Not":
            return not args[0]
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::Join":
            return args[0].join(args[1])
    raise ValueError(f"condition function {key} not supported here")


def _resolve_ifs(node: Any, truth: dict[str, bool]) -> Any:
    if isinstance(node, list):
        items = [_resolve_ifs(n, truth) for n in node]
        return [i for i in items if i is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if set(node) == {"Fn::If"}:
        condition, yes, no = node["Fn::If"]
        return _resolve_ifs(yes if truth[condition] else no, truth)
    items = {k: _resolve_ifs(v, truth) for k, v in node.items()}
    return {k: v for k, v in items.items() if v is not _NO_VALUE}


def of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}
