"""A SAM/CloudFormation template as a plain dict, short tags included (!Ref X -> {"Ref": "X"}).

One reader for the tests (template.yaml) and infra/scripts/size_check.py (the built template).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# devtools/ sits at the repository root, beside template.yaml.
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types: Any
    """SafeLoader that reads CloudFormation short tags."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    # A SafeLoader subclass: nothing but plain data is built.
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506
    return template
