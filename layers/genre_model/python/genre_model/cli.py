"""Command line: ``python -m genre_model train|versions|report|rollback|aggregates``.

Errors end the program with exit status 1 and one readable line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from genre_model.config import FEATURE_SETS, ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from genre_model.store.local import LocalModelPath
    from genre_model.store.registry import Registry


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if getattr(args, "feature_set", None):
        settings = replace(settings, feature_set=args.feature_set)
    if getattr(args, "model_path", None):
        settings = replace(settings, model_path=args.model_path)
    return settings


def cmd_train(args: argparse.Namespace) -> int:
    from genre_model.store.target import target_registry
    from genre_model.train.sources import open_source, source_from_url

    settings = _settings(args)
    source = (
        source_from_url(args.db, settings.database) if args.db else open_source(settings.database)
    )
    registry = target_registry(settings)
    # First, before the work: what it reads (never a password) and where the version goes
    # (on stderr with --json, so stdout stays one JSON document). An error after it is one line
    # on stderr.
    print(
        f"Training from {source.description}, publishing to {_where(*registry)}",
        file=sys.stderr if args.json else sys.stdout,
        flush=True,
    )
    # The training stack (scikit-learn, pandas, matplotlib: seconds to import) only now: a bad
    # setting, database URL or model location has already ended the command in one line.
    from genre_model.train.features import describe_skipped
    from genre_model.train.fit import format_report
    from genre_model.train.pipeline import run_training

    outcome = run_training(settings, source=source, registry=registry)
    if args.json:
        print(json.dumps({"summary": outcome.summary(), "report": outcome.report}, indent=2))
        return 0
    print(format_report(outcome.report))
    skipped = describe_skipped(outcome.report["skipped"]) or "nothing"
    print(f"Left out by the data rules (README): {skipped}")
    print(f"\nPublished version {outcome.version} -> {outcome.location} (promoted to latest)")
    return 0


def _where(registry: Registry, local: LocalModelPath | None) -> str:
    return str(local.path) if local is not None else registry.store.url(registry.prefix)


def _registry(args: argparse.Namespace) -> tuple[Registry, LocalModelPath | None]:
    from genre_model.store.target import target_registry

    settings = _settings(args)
    if not settings.model_path and not settings.model_bucket:
        raise ConfigError(
            "no model location: looked at --model-path, MODELO_GENERO_ENTRENADO and MODEL_BUCKET, "
            "all unset (make demo writes var/demo/assets/modelo_genero_entrenado.pkl)"
        )
    return target_registry(settings)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def cmd_versions(args: argparse.Namespace) -> int:
    registry, _ = _registry(args)
    versions = registry.versions()
    if not versions:
        print(f"no versions under {registry.store.url(registry.prefix)}")
        return 0
    print("hold-out accuracy and macro-F1, CV accuracy: model / majority baseline; * = latest")
    print(
        f"{'':2}{'version':<26}{'created':<27}{'accuracy':>15}{'macro-F1':>15}"
        f"{'CV accuracy':>15}{'customers':>10}  report"
    )
    for v in versions:
        pairs = (
            (v.accuracy, v.baseline_accuracy),
            (v.macro_f1, v.baseline_macro_f1),
            (v.cv_accuracy, v.cv_baseline_accuracy),
        )
        figures = "".join(f"{_figure(m) + ' / ' + _figure(b):>15}" for m, b in pairs)
        mark = "* " if v.latest else "  "
        report = "yes" if v.reported else "-"
        print(f"{mark}{v.version:<26}{v.created:<27}{figures}{v.labelled or 0:>10}  {report}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genre_model.contract import REPORT_PICTURE, check_version
    from genre_model.store.protocol import ArtifactError, verified

    version = check_version(args.version)  # before anything is read: a name, never a path
    out = Path(args.out or f"{version}.report.png")
    if out.is_dir():
        out = out / f"{version}.report.png"
    registry, _ = _registry(args)
    manifest = registry.manifest(version)
    if REPORT_PICTURE not in manifest.files:
        raise ArtifactError(f"version {version} has no {REPORT_PICTURE} (published before reports)")
    data = verified(registry.store, registry.key(version, REPORT_PICTURE), manifest, REPORT_PICTURE)
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ArtifactError(f"{REPORT_PICTURE} of {version} is not a PNG picture")
    try:
        fh = open(out, "xb")  # never over a file that is already there  # noqa: SIM115
    except FileExistsError:
        raise ArtifactError(f"{out} already exists: refusing to overwrite it") from None
    except OSError as exc:
        raise ArtifactError(f"cannot write {out}: {exc.strerror or exc}") from None
    with fh:
        try:
            fh.write(data)
        except OSError as exc:  # a full disk: leave no half picture behind
            out.unlink(missing_ok=True)
            raise ArtifactError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({len(data)} bytes): the report of {version}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from genre_model.contract import check_version
    from genre_model.serve.model_cache import load_version

    check_version(args.version)  # before anything is read: a name, never a path
    registry, _ = _registry(args)
    pointer = registry.promote(args.version, validate=load_version)  # as predict would load it
    print(
        f"latest -> {pointer.version} (running servers switch at their next check, within "
        "MODEL_REFRESH_SECONDS: 300 s by default, 2 s under make serve and make demo)"
    )
    return 0


def cmd_aggregates(args: argparse.Namespace) -> int:
    """``rebuild``: re-derive the aggregate tables from every line; ``fold``: add the lines past
    the watermark; ``status``: customers, watermark and lines waiting (changes nothing)."""
    from genre_model.train import aggregates
    from genre_model.train.sources import open_source, source_from_url

    settings = _settings(args)
    source = (
        source_from_url(args.db, settings.database) if args.db else open_source(settings.database)
    )
    if args.action == "status":
        measured = aggregates.measure(source, "incremental")
        print(
            f"{source.description}: {measured.customers} customers, watermark at invoice line "
            f"{measured.watermark}, {measured.new_lines} lines past it"
        )
        return 0
    with source.session(write=True) as session:
        run = aggregates.rebuild if args.action == "rebuild" else aggregates.fold
        done = run(session)
    print(f"{args.action}: folded {done.lines} invoice lines, watermark at line {done.to}")
    return 0


Command = Callable[[argparse.Namespace], int]


def command_line(
    prog: str, description: str | None, commands: dict[str, tuple[str, Command]]
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """What both command lines (this one and ``python -m devtools``) share: ``-v`` and one
    required sub-command per entry of ``commands`` (name -> (help, function)). Returns the parser
    and the sub-commands' parsers, for their own arguments."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)
    parsers = {}
    for name, (help_text, func) in commands.items():
        parsers[name] = sub.add_parser(name, help=help_text)
        parsers[name].set_defaults(func=func)
    return p, parsers


def parser() -> argparse.ArgumentParser:
    p, sub = command_line(
        "python -m genre_model",
        __doc__,
        {
            "train": ("train from MySQL or SQLite and publish a version", cmd_train),
            "versions": ("list the versions and their headline figures", cmd_versions),
            "report": ("write a version's report picture (report.png) locally", cmd_report),
            "rollback": ("point latest at an earlier version", cmd_rollback),
            "aggregates": (
                "rebuild, fold or show the incremental aggregate tables",
                cmd_aggregates,
            ),
        },
    )
    t = sub["train"]
    t.add_argument("--db", help="mysql://user[:password]@host[:port]/db or a Chinook SQLite file")
    t.add_argument("--feature-set", choices=FEATURE_SETS)
    t.add_argument("--model-path", help="overrides MODELO_GENERO_ENTRENADO (path or s3:// URI)")
    t.add_argument("--json", action="store_true", help="print the report as JSON")
    sub["versions"].add_argument("--model-path")
    sub["report"].add_argument("version")
    sub["report"].add_argument("--out", help="file or folder (default ./VERSION.report.png)")
    sub["report"].add_argument("--model-path")
    sub["rollback"].add_argument("version")
    sub["rollback"].add_argument("--model-path")
    a = sub["aggregates"]
    a.add_argument("action", choices=("rebuild", "fold", "status"))
    a.add_argument("--db", help="mysql://user[:password]@host[:port]/db or a Chinook SQLite file")
    return p


def main(
    argv: Sequence[str] | None = None, build: Callable[[], argparse.ArgumentParser] | None = None
) -> int:
    """Run one command; ``build`` makes the parser (``devtools`` adds its own commands)."""
    args = (build or parser)().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    from genre_model.contract import ContractError
    from genre_model.store.protocol import ArtifactError, PromotionRefused
    from genre_model.train import TrainingError
    from genre_model.train.sources import DataSourceError

    known = (ConfigError, DataSourceError, TrainingError, ArtifactError, PromotionRefused)
    try:
        func: Command = args.func
        return func(args)
    except (*known, ContractError) as exc:
        print(f"error: {_one_line(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug must still not print a traceback or a secret
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc, args)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """The message on one line, with any database password blanked wherever it appears."""
    from urllib.parse import unquote

    text = " ".join(str(exc).split())
    db = getattr(args, "db", None) or ""
    url_password = db.partition("://")[2].rpartition("@")[0].partition(":")[2]
    try:
        env_password = load_settings().database.password
    except ConfigError:
        env_password = ""
    secrets = {url_password, unquote(url_password), env_password}
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
