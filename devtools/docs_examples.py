"""``make docs-examples``: every curl example of the docs run against the demo model, its answer
written under it, so no answer in the docs is invented or stale.

An *example* is a ```` ```bash ```` block holding one ``curl`` command aimed at
``http://localhost:8000``, followed by a ```` ```http ```` block: its answer (status line, then
the JSON body). This rewrites only those answer blocks; ``tests/integration/test_docs_examples.py``
runs every command of every bash block (curl and CLI) and compares the answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import demo_models

ROOT = demo_models.ROOT
DOCUMENTED_URL = "http://localhost:8000"
BASH_BLOCK = re.compile(r"```(?:bash|sh)\n(.*?)```", re.S)
EXAMPLE = re.compile(r"```bash\n(?P<command>curl\b.*?)```\n\n```http\n(?P<answer>.*?)```\n", re.S)


def documents(root: Path = ROOT) -> list[Path]:
    """The README, every page of docs/ and the deploy guide."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "infra/deploy.md"]


def commands(text: str) -> Iterator[str]:
    """Every command of every bash block: continuation lines and multi-line quotes joined."""
    for block in BASH_BLOCK.findall(text):
        command = ""
        for line in block.splitlines():
            if not command and (not line.strip() or line.lstrip().startswith("#")):
                continue
            command += line + "\n"
            if line.endswith("\\"):
                continue
            try:
                shlex.split(command, comments=True)
            except ValueError:  # an open quote: the JSON body goes on
                continue
            yield command.strip()
            command = ""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    def render(self) -> str:
        """The answer block's text."""
        return f"HTTP/1.1 {self.status}\n\n{json.dumps(self.body, indent=2, ensure_ascii=False)}\n"

    @classmethod
    def parse(cls, text: str) -> Answer:
        status_line, _, body = text.partition("\n")
        return cls(int(status_line.split()[1]), json.loads(body) if body.strip() else None)


def run_curl(command: str, base: str) -> Answer:
    """``command`` as the shell runs it, aimed at ``base`` instead of the documented server
    (``$API_URL`` and ``<ApiUrl>`` of the deploy guide too)."""
    replay = command.replace("<ApiUrl>", base).replace(DOCUMENTED_URL, base)
    if not replay.startswith("curl "):
        raise ValueError(f"not a curl command: {command}")
    replay = "curl -sS --max-time 30 -w '\\n%{http_code}' " + replay[len("curl ") :]
    done = subprocess.run(  # noqa: S603 - the docs' own commands, run on purpose
        ["bash", "-c", replay],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "API_URL": base},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command}\n-> exit {done.returncode}: {done.stderr.strip()}")
    body, _, status = done.stdout.rpartition("\n")
    return Answer(int(status), json.loads(body) if body else None)


def rewrite(path: Path, base: str) -> bool:
    """Write each example's answer from ``base``; True when the file changed."""
    text = path.read_text()

    def answer(match: re.Match[str]) -> str:
        fresh = run_curl(match["command"].strip(), base).render()
        return f"```bash\n{match['command']}```\n\n```http\n{fresh}```\n"

    new = EXAMPLE.sub(answer, text)
    if new != text:
        path.write_text(new)
    return new != text


def main() -> int:
    model = demo_models.DEFAULT_MODEL
    if not model.exists():
        print(f"no demo model at {model}: run `make demo DEMO_ONCE=1` first", file=sys.stderr)
        return 1
    os.environ["MODELO_GENERO_ENTRENADO"] = str(model)
    os.environ.pop("MODEL_BUCKET", None)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from devtools.server import find_handler, make_server

    server = make_server("127.0.0.1", 0, find_handler())
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for path in documents():
            changed = rewrite(path, base)
            print(f"{path.relative_to(ROOT)}: {'rewritten' if changed else 'up to date'}")
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
