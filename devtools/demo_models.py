"""Where ``make demo`` writes its models, and which of them ``make serve`` serves by default.

The demo keeps one model path per data source (``var/demo/assets/`` for the synthetic store,
``var/demo/assets-<source>/`` for ``DB=...``) and one report picture beside each. With neither
``MODEL_BUCKET`` nor ``MODELO_GENERO_ENTRENADO`` set, the local server serves the model the most
recent demo run trained, so ``make demo`` then ``make serve`` answers without any setting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "var" / "demo"
MODEL_NAME = "modelo_genero_entrenado.pkl"
DEFAULT_MODEL = DEMO_DIR / "assets" / MODEL_NAME  # the synthetic store's (plain `make demo`)


@dataclass(frozen=True)
class DemoModel:
    path: Path  # the MODELO_GENERO_ENTRENADO path
    version: str  # the promoted version

    def shown(self) -> str:
        """The path as a reader of the checkout types it."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def store_tag(db: str) -> str:
    """The suffix naming a data source's outputs (``""`` for the synthetic store)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", db).strip("-")[-60:] if db else ""


def model_path(db: str, root: Path = DEMO_DIR) -> Path:
    """One model path per data source: the promotion rules compare a new model with the one it
    replaces, and a different store is not a truncated version of the previous one."""
    tag = store_tag(db)
    return root / (f"assets-{tag}" if tag else "assets") / MODEL_NAME


def report_picture(db: str, root: Path = DEMO_DIR) -> Path:
    """One training report picture per data source, so no run overwrites another store's."""
    tag = store_tag(db)
    return root / (f"training-report-{tag}.png" if tag else "training-report.png")


def newest(root: Path = DEMO_DIR) -> DemoModel | None:
    """The demo model whose promoted version is the most recent (version names sort by time)."""
    found = []
    for path in root.glob(f"assets*/{MODEL_NAME}"):
        manifest = path.with_name(f"{path.stem}.manifest.json")
        try:
            version = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written or foreign: not a model to offer
        if isinstance(version, str):
            found.append(DemoModel(path, version))
    return max(found, key=lambda m: m.version, default=None)
