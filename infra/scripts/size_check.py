"""Unzipped size of each function + its layers in .aws-sam/build (Lambda's 250 MiB limit).

Run after `sam build`. Reads the built template to find which layers each function uses,
sums the apparent size of every file (what Lambda counts once the zips are extracted),
prints the totals and exits non-zero when a function exceeds the hard limit.
Usage: python infra/scripts/size_check.py [BUILD_DIR]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from devtools.cfn_template import load_template

MIB = 1024 * 1024
HARD_LIMIT_MIB = 250  # Lambda: function + all layers, unzipped
TARGETS_MIB = {"PredictFunction": 80, "TrainFunction": 200}  # performance targets


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


def main(build_dir: str = ".aws-sam/build") -> int:
    build = Path(build_dir)
    template_path = build / "template.yaml"
    if not template_path.is_file():
        print(f"size-check: {template_path} not found; run `make build` first", file=sys.stderr)
        return 2
    template = load_template(template_path)
    resources = template.get("Resources", {})
    functions = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    if not functions:
        print("size-check: no AWS::Serverless::Function in the built template", file=sys.stderr)
        return 2
    failed = False
    for name, resource in sorted(functions.items()):
        layers = [
            ref["Ref"]
            for ref in resource.get("Properties", {}).get("Layers", [])
            if isinstance(ref, dict) and "Ref" in ref
        ]
        parts = [(name, build / name)] + [(layer, build / layer) for layer in layers]
        missing = [str(path) for _, path in parts if not path.is_dir()]
        if missing:
            print(f"size-check: missing build output {missing}", file=sys.stderr)
            return 2
        sizes = [(part, tree_size(path)) for part, path in parts]
        total = sum(size for _, size in sizes)
        detail = ", ".join(f"{part} {size / MIB:.1f}" for part, size in sizes)
        over = total > HARD_LIMIT_MIB * MIB
        failed |= over
        print(
            f"{name}: {total / MIB:.1f} MiB unzipped ({detail}) "
            f"-> {'FAIL' if over else 'ok'} (limit {HARD_LIMIT_MIB} MiB)"
        )
        target = TARGETS_MIB.get(name)
        if target is not None:
            met = total <= target * MIB
            print(f"  performance target <= {target} MiB: {'met' if met else 'NOT met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
