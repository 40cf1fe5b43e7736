"""template.yaml through the SAM translator, conditions resolved for one set of parameters.

What CloudFormation will create, not what the SAM source says: the wiring tests read this.
The translator runs in sam's own venv (``.tools/sam``, ``make tools``): its pydantic pin clashes
with the project's, which is why the tools live outside ``.venv``. Local ``CodeUri``/
``ContentUri``/``DefinitionUri`` paths become placeholder S3 URIs (as ``sam package`` would).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from devtools.cfn_template import load_template

SAM_PYTHON = Path(__file__).resolve().parents[1] / ".tools" / "sam" / "bin" / "python"
_SOURCE = load_template()
_NO_VALUE = object()
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicies:  # asked only for policies given by name; the template has none
    def load(self):
        return {}

request = json.load(sys.stdin)
json.dump(transform(request["template"], request["parameters"], NoManagedPolicies()), sys.stdout)
"""


def available() -> tuple[bool, str]:
    return SAM_PYTHON.is_file(), f"{SAM_PYTHON} missing: run `make tools`"


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
    return copy.deepcopy(_translated(tuple(sorted((overrides or {}).items()))))


@functools.cache
def _translated(overrides: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    template = copy.deepcopy(_SOURCE)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://sam-artifacts/{key.lower()}.zip"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", _TRANSLATE],
        input=json.dumps({"template": template, "parameters": dict(overrides)}),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"SAM translator failed:\n{done.stderr[-3000:]}")
    cfn = json.loads(done.stdout)
    values = parameters(dict(overrides))
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
