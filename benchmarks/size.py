"""Issue 3: unzipped size of each function + its layers, from ``sam build`` output.

Uses the same accounting as ``make size-check`` (infra/scripts/size_check.py: apparent size of
every file of the function's directory and of each layer it references in the built template),
and checks that the predict bundle holds no scikit-learn, scipy or pandas.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from benchmarks.common import ROOT

BUILD = ROOT / ".aws-sam" / "build"
FORBIDDEN_IN_PREDICT = ("sklearn", "scipy", "pandas")
TARGETS_MIB = {"PredictFunction": 80, "TrainFunction": 200}
MIB = 1024 * 1024


def _size_check():
    path = ROOT / "infra" / "scripts" / "size_check.py"
    spec = importlib.util.spec_from_file_location("size_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _largest(build: Path, parts: list[str], checker, top: int = 6) -> dict[str, float]:
    """The biggest top-level packages of a bundle (what to cut if it grows)."""
    sizes = {}
    for part in parts:
        for site in [build / part / "python", build / part]:
            if not site.is_dir():
                continue
            for entry in site.iterdir():
                if entry.is_dir() and not entry.name.endswith((".dist-info", "__pycache__")):
                    sizes[entry.name] = sizes.get(entry.name, 0) + checker.tree_size(entry) / MIB
            break
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:top])


def run(build: Path = BUILD) -> dict:
    from devtools.cfn_template import load_template

    template_path = build / "template.yaml"
    if not template_path.is_file():
        return {"error": f"{template_path} not found: run `make build` first"}
    checker = _size_check()
    template = load_template(template_path)
    out: dict = {
        "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(template_path.stat().st_mtime)),
        "functions": {},
    }
    for name, resource in sorted(template["Resources"].items()):
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        layers = [
            ref["Ref"]
            for ref in resource.get("Properties", {}).get("Layers", [])
            if isinstance(ref, dict) and "Ref" in ref
        ]
        parts = {part: checker.tree_size(build / part) / MIB for part in [name, *layers]}
        found = sorted(
            {
                p.name
                for part in [name, *layers]
                for p in (build / part).rglob("*")
                if p.is_dir() and p.name in FORBIDDEN_IN_PREDICT
            }
        )
        out["functions"][name] = {
            "total_mib": sum(parts.values()),
            "parts_mib": parts,
            "target_mib": TARGETS_MIB.get(name),
            "heavy_packages": found,
            "largest_mib": _largest(build, [name, *layers], checker),
        }
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
