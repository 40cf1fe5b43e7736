"""``python -m devtools serve|generate``: the local API on :8000 and a synthetic Chinook store.

Errors end with exit status 1 and one readable line, as ``python -m genre_model`` does.
"""

from __future__ import annotations

import argparse
import sys

from genre_model.cli import command_line, main
from genre_model.config import ConfigError


def cmd_generate(args: argparse.Namespace) -> int:
    from devtools.synthetic import generate_to_url

    if args.customers < 1:  # bad input, said as such (not "unexpected ValueError")
        raise ConfigError(f"--customers must be at least 1, not {args.customers}")
    summary = generate_to_url(
        args.target, customers=args.customers, seed=args.seed, naming=args.naming
    )
    print(summary)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from devtools.server import serve

    serve(host=args.host, port=args.port)
    return 0


def parser() -> argparse.ArgumentParser:
    p, sub = command_line(
        "python -m devtools",
        __doc__,
        {
            "generate": ("write a synthetic Chinook store", cmd_generate),
            "serve": ("local HTTP API calling the predict Lambda handler", cmd_serve),
        },
    )
    g = sub["generate"]
    g.add_argument("target", help="SQLite file path or mysql://user@host[:port]/db")
    g.add_argument("--customers", type=int, default=3000)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--naming", choices=("snake_case", "PascalCase"), default="snake_case")
    sub["serve"].add_argument("--host", default="127.0.0.1")
    sub["serve"].add_argument("--port", type=int, default=8000)
    return p


if __name__ == "__main__":
    sys.exit(main(build=parser))
