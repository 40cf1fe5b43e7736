"""Every setting the service reads, read once from the environment into a frozen object.

Nothing else in the code base reads ``os.environ``: settings are built here, validated once, and
passed down. A missing or malformed setting raises one ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

DEFAULT_MODEL_PREFIX = "models/genre/"
DEFAULT_MAX_BATCH_ITEMS = 1000
# A batch answers inside the predict function's 29 s: 10,000 explained items take a few seconds.
MAX_BATCH_ITEMS_CEILING = 10_000
FEATURE_SETS = ("spec", "location")
AGGREGATES_FULL, AGGREGATES_INCREMENTAL = "full", "incremental"
AGGREGATES_MODES = (AGGREGATES_FULL, AGGREGATES_INCREMENTAL)
# Above this many labelled customers the forest is fitted once, on a stratified sample of this
# size: the fit's time and memory stop growing with the store (two fits on 0.8 M + 1 M customers
# took 57 s on 2 cores, benchmarks/results/training-1000000.json). `make bench-scale` measures
# sampled against full accuracy (benchmarks/results/scale.md).
DEFAULT_TRAIN_SAMPLE_ROWS = 1_000_000
# auto: TLS to every host but loopback; require: TLS always; disable: plain text (warned).
DB_TLS_MODES = ("auto", "require", "disable")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class DatabaseSettings:
    """Where Chinook lives: a Secrets Manager secret, explicit MySQL settings, or a SQLite file."""

    secret_arn: str | None = None
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)  # repr=False: never reaches a log line
    name: str = "Chinook"
    sqlite_path: str | None = None
    connect_timeout: int = 10
    read_timeout: int = 600
    tls: str = "auto"
    tls_ca: str | None = None  # None: the train layer's fetched Amazon RDS bundle


@dataclass(frozen=True)
class ForestSettings:
    """Random-forest hyper-parameters; the defaults are the original system's."""

    n_estimators: int = 100
    max_depth: int | None = 10
    min_samples_split: int = 5
    random_state: int = 42
    n_jobs: int | None = None


@dataclass(frozen=True)
class SignedGet:
    """What predict's standard-library S3 GET signs with: the function's role credentials and
    region as the Lambda runtime provides them, and the S3 endpoint when one is set."""

    key_id: str
    secret: str = field(repr=False)  # repr=False: never reaches a log line
    token: str | None = field(repr=False)
    region: str
    endpoint: str | None = None


@dataclass(frozen=True)
class S3Limits:
    """Predict's S3 reads: per-socket timeouts and botocore standard-mode attempts per GET, and
    inside Lambda (``signed_get`` set) the signed GET that reads without importing boto3."""

    connect_timeout: float = 1.0
    read_timeout: float = 1.0
    max_attempts: int = 3
    signed_get: SignedGet | None = None


@dataclass(frozen=True)
class Settings:
    """The whole configuration of both functions and the CLI."""

    model_bucket: str | None = None
    model_prefix: str = DEFAULT_MODEL_PREFIX
    model_path: str | None = None  # MODELO_GENERO_ENTRENADO: local pickle path or s3:// URI
    model_refresh_seconds: float = 300.0
    # A warm request waits at most this for a refresh, then answers with the cached model.
    model_refresh_budget: float = 1.0
    # One whole load (every GET and retry); also the most a request with no model waits.
    model_load_deadline: float = 10.0
    s3: S3Limits = S3Limits()
    feature_set: str = "spec"
    min_customers: int = 10
    max_batch_items: int = DEFAULT_MAX_BATCH_ITEMS
    aggregates: str = AGGREGATES_FULL  # TRAIN_AGGREGATES: how training reads the store
    sample_rows: int | None = DEFAULT_TRAIN_SAMPLE_ROWS  # None: always fit on everybody
    database: DatabaseSettings = DatabaseSettings()
    forest: ForestSettings = ForestSettings()


# Every variable the configuration reads and what it means (the README table is tested against it).
VARIABLES: dict[str, str] = {
    "MODEL_BUCKET": "S3 bucket holding the versioned model artifacts",
    "MODEL_PREFIX": "key prefix of the artifacts inside the bucket",
    "MODELO_GENERO_ENTRENADO": "local path of the scikit-learn pickle, or an s3:// URI",
    "MODEL_REFRESH_SECONDS": "how often predict checks latest.json for a new version",
    "MODEL_REFRESH_BUDGET_SECONDS": "most a warm request waits for a refresh (then: cached model)",
    "MODEL_LOAD_DEADLINE_SECONDS": "deadline of one whole model load from S3 (every GET and retry)",
    "S3_CONNECT_TIMEOUT": "seconds predict waits to connect to S3",
    "S3_READ_TIMEOUT": "seconds predict waits for S3 to send data",
    "S3_MAX_ATTEMPTS": "attempts per S3 GET (retries on 500/503/SlowDown, timeouts)",
    "FEATURE_SET": "`spec` (three spending features) or `location` (adds country)",
    "MIN_CUSTOMERS": "promotion rule: fewest labelled customers a new model needs",
    "MAX_BATCH_ITEMS": "most items one POST /api/predict-genre/batch may carry",
    "TRAIN_AGGREGATES": "`full` (aggregate every line each run) or `incremental` (fold new lines "
    "into the aggregate tables of infra/db/aggregates.sql)",
    "TRAIN_SAMPLE_ROWS": "fit on a stratified sample of this many customers when the store has "
    "more (`none`: never sample)",
    "DB_SECRET_ARN": "Secrets Manager secret (RDS JSON: host, port, username, password, dbname)",
    "DB_HOST": "MySQL/MariaDB host",
    "DB_PORT": "MySQL/MariaDB port",
    "DB_USER": "MySQL/MariaDB user",
    "DB_PASSWORD": "MySQL/MariaDB password (empty is a valid password)",
    "DB_NAME": "database holding Chinook",
    "DB_CONNECT_TIMEOUT": "seconds to wait for the database connection",
    "DB_READ_TIMEOUT": "seconds to wait for the aggregation query",
    "DB_TLS": "`auto` (TLS to all but loopback hosts), `require`, `disable` (plain text, warned)",
    "DB_TLS_CA": "PEM bundle that verifies the DB server (default: the fetched Amazon RDS bundle)",
    "CHINOOK_SQLITE_PATH": "train from this Chinook SQLite file instead of MySQL",
    "RF_N_ESTIMATORS": "trees in the forest",
    "RF_MAX_DEPTH": "maximum tree depth (`none` for unlimited)",
    "RF_MIN_SAMPLES_SPLIT": "minimum samples to split a node",
    "RF_RANDOM_STATE": "seed of the forest and of the train/test split",
    "RF_N_JOBS": "parallel jobs for fitting (-1: all cores)",
}


# What the Lambda runtime sets (never the deployment): read for the signed GET only.
RUNTIME_VARIABLES: dict[str, str] = {
    "AWS_LAMBDA_FUNCTION_NAME": "set inside Lambda: predict reads S3 with the signed GET",
    "AWS_ACCESS_KEY_ID": "the function role's access key",
    "AWS_SECRET_ACCESS_KEY": "the function role's secret key",
    "AWS_SESSION_TOKEN": "the function role's session token",
    "AWS_REGION": "the function's region (else AWS_DEFAULT_REGION)",
    "AWS_DEFAULT_REGION": "the region when AWS_REGION is not set",
    "AWS_ENDPOINT_URL_S3": "S3 endpoint (else AWS_ENDPOINT_URL; default: AWS's)",
    "AWS_ENDPOINT_URL": "endpoint of every AWS service, S3's when AWS_ENDPOINT_URL_S3 is unset",
}


# What the template sets for the functions' logs and metrics (Powertools' names, kept for the train
# function, which still uses Powertools, and for the predict function's own ``serve.telemetry``).
TELEMETRY_VARIABLES: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "the `service` field of every log line and metric",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudWatch namespace of the custom metrics",
    "AWS_LAMBDA_LOG_LEVEL": "log level of Lambda's logging configuration (template LogLevel)",
    "POWERTOOLS_LOG_LEVEL": "log level when Lambda sets none (local runs, benchmarks)",
}


# Upper bounds: scikit-learn's seed range, TCP ports, what pymysql and the socket layer accept,
# and sizes past which a run would exhaust memory instead of failing with a clear message.
MAX_INT = 2**31 - 1
MAXIMUMS = {
    "RF_RANDOM_STATE": 2**32 - 1,
    "DB_PORT": 65535,
    "DB_CONNECT_TIMEOUT": 3600,
    "DB_READ_TIMEOUT": 86400,
    "RF_N_ESTIMATORS": 10_000,
}
MAX_JOBS = 1024
MAX_REFRESH_SECONDS = 86400.0


T = TypeVar("T", int, float)
ASCII_INT = re.compile(r"[+-]?[0-9]+")
ASCII_NUMBER = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?")


def _parsed(raw: str, pattern: re.Pattern[str], kind: type[T], message: str) -> T:
    """``kind(raw)`` for ASCII digits only: ``int()`` and ``float()`` also take Arabic-Indic
    or full-width digits and '1_000', which nobody means as a setting."""
    if not pattern.fullmatch(raw):
        raise ConfigError(f"{message}, got {raw!r}")
    return kind(raw)


def _int(env: Mapping[str, str], name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() == "none":
        return None
    value = _parsed(raw, ASCII_INT, int, f"{name} must be an integer")
    maximum = MAXIMUMS.get(name, MAX_INT)
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _required_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    value = _int(env, name, default, minimum=minimum)
    if value is None:
        raise ConfigError(f"{name} must be an integer, got 'none'")
    return value


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _prefix(raw: str) -> str:
    """A key prefix of plain segments: '.', '..' or empty ones would name keys outside it
    (or, on a local mirror, other folders)."""
    raw = raw.strip().strip("/")
    if raw and any(part in ("", ".", "..") for part in raw.split("/")):
        raise ConfigError(f"MODEL_PREFIX must not contain '.', '..' or empty segments, got {raw!r}")
    return f"{raw}/" if raw else ""


def _seconds(env: Mapping[str, str], name: str, default: float, *, maximum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = _parsed(raw, ASCII_NUMBER, float, f"{name} must be a number of seconds")
    if not 0 < value <= maximum:
        raise ConfigError(f"{name} must be > 0 and <= {maximum:g}, got {raw!r}")
    return value


def _runtime(env: Mapping[str, str], name: str) -> str | None:
    """One of ``RUNTIME_VARIABLES``; empty is unset."""
    return env.get(name) or None


def _signed_get(env: Mapping[str, str]) -> SignedGet | None:
    """Inside Lambda with credentials and region in the environment (as the runtime provides
    them): the signed GET's settings. Elsewhere (profiles, SSO, moto) None: boto3 reads."""
    if not _runtime(env, "AWS_LAMBDA_FUNCTION_NAME"):
        return None
    key = _runtime(env, "AWS_ACCESS_KEY_ID")
    secret = _runtime(env, "AWS_SECRET_ACCESS_KEY")
    region = _runtime(env, "AWS_REGION") or _runtime(env, "AWS_DEFAULT_REGION")
    if not (key and secret and region):
        return None
    return SignedGet(
        key_id=key,
        secret=secret,
        token=_runtime(env, "AWS_SESSION_TOKEN"),
        region=region,
        endpoint=_runtime(env, "AWS_ENDPOINT_URL_S3") or _runtime(env, "AWS_ENDPOINT_URL"),
    )


def _load_limits(env: Mapping[str, str]) -> tuple[float, float, S3Limits]:
    """Refresh budget, load deadline and S3 limits; all well inside API Gateway's 29 s."""
    deadline = _seconds(env, "MODEL_LOAD_DEADLINE_SECONDS", 10.0, maximum=20.0)
    budget = _seconds(env, "MODEL_REFRESH_BUDGET_SECONDS", 1.0, maximum=deadline)
    limits = S3Limits(
        connect_timeout=_seconds(env, "S3_CONNECT_TIMEOUT", 1.0, maximum=deadline),
        read_timeout=_seconds(env, "S3_READ_TIMEOUT", 1.0, maximum=deadline),
        max_attempts=_required_int(env, "S3_MAX_ATTEMPTS", 3, minimum=1),
        signed_get=_signed_get(env),
    )
    return budget, deadline, limits


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    feature_set = env.get("FEATURE_SET", "spec").strip().lower() or "spec"
    if feature_set not in FEATURE_SETS:
        raise ConfigError(
            f"FEATURE_SET must be one of {', '.join(FEATURE_SETS)}, got {feature_set!r}"
        )
    refresh_raw = env.get("MODEL_REFRESH_SECONDS", "").strip() or "300"
    refresh = _parsed(refresh_raw, ASCII_NUMBER, float, "MODEL_REFRESH_SECONDS must be a number")
    if not 0 <= refresh <= MAX_REFRESH_SECONDS:  # also refuses nan and inf
        raise ConfigError(
            f"MODEL_REFRESH_SECONDS must be between 0 and {MAX_REFRESH_SECONDS:g}, "
            f"got {refresh_raw!r}"
        )
    n_jobs_raw = env.get("RF_N_JOBS", "").strip()
    n_jobs = None
    if n_jobs_raw:
        n_jobs = _parsed(n_jobs_raw, ASCII_INT, int, "RF_N_JOBS must be an integer")
    if n_jobs == 0 or (n_jobs is not None and abs(n_jobs) > MAX_JOBS):
        raise ConfigError(
            f"RF_N_JOBS must be a non-zero integer between -{MAX_JOBS} and {MAX_JOBS} "
            f"(-1: all cores), got {n_jobs_raw!r}"
        )
    budget, deadline, limits = _load_limits(env)
    tls = env.get("DB_TLS", "").strip().lower() or "auto"
    if tls not in DB_TLS_MODES:
        raise ConfigError(f"DB_TLS must be one of {', '.join(DB_TLS_MODES)}, got {tls!r}")
    max_batch_items = _required_int(env, "MAX_BATCH_ITEMS", DEFAULT_MAX_BATCH_ITEMS, minimum=1)
    if max_batch_items > MAX_BATCH_ITEMS_CEILING:
        raise ConfigError(
            f"MAX_BATCH_ITEMS must be <= {MAX_BATCH_ITEMS_CEILING}, got {max_batch_items}"
        )
    aggregates = env.get("TRAIN_AGGREGATES", "").strip().lower() or AGGREGATES_FULL
    if aggregates not in AGGREGATES_MODES:
        raise ConfigError(
            f"TRAIN_AGGREGATES must be one of {', '.join(AGGREGATES_MODES)}, got {aggregates!r}"
        )
    return Settings(
        model_bucket=_text(env, "MODEL_BUCKET"),
        model_prefix=_prefix(env.get("MODEL_PREFIX", DEFAULT_MODEL_PREFIX)),
        model_path=_text(env, "MODELO_GENERO_ENTRENADO"),
        model_refresh_seconds=refresh,
        model_refresh_budget=budget,
        model_load_deadline=deadline,
        s3=limits,
        feature_set=feature_set,
        min_customers=_required_int(env, "MIN_CUSTOMERS", 10, minimum=1),
        max_batch_items=max_batch_items,
        aggregates=aggregates,
        sample_rows=_int(env, "TRAIN_SAMPLE_ROWS", DEFAULT_TRAIN_SAMPLE_ROWS, minimum=2),
        database=DatabaseSettings(
            secret_arn=_text(env, "DB_SECRET_ARN"),
            host=_text(env, "DB_HOST") or "127.0.0.1",
            port=_required_int(env, "DB_PORT", 3306, minimum=1),
            user=_text(env, "DB_USER") or "root",
            password=env.get("DB_PASSWORD", ""),
            name=_text(env, "DB_NAME") or "Chinook",
            sqlite_path=_text(env, "CHINOOK_SQLITE_PATH"),
            connect_timeout=_required_int(env, "DB_CONNECT_TIMEOUT", 10, minimum=1),
            read_timeout=_required_int(env, "DB_READ_TIMEOUT", 600, minimum=1),
            tls=tls,
            tls_ca=_text(env, "DB_TLS_CA"),
        ),
        forest=ForestSettings(
            n_estimators=_required_int(env, "RF_N_ESTIMATORS", 100, minimum=1),
            max_depth=_int(env, "RF_MAX_DEPTH", 10, minimum=1),
            min_samples_split=_required_int(env, "RF_MIN_SAMPLES_SPLIT", 5, minimum=2),
            random_state=_required_int(env, "RF_RANDOM_STATE", 42),
            n_jobs=n_jobs,
        ),
    )


@cache
def settings() -> Settings:
    """The process-wide settings, read once; tests call ``settings.cache_clear()``."""
    return load_settings()


@dataclass(frozen=True)
class Telemetry:
    """Where the predict function's log lines and metrics say they come from."""

    service: str = "service_undefined"  # Powertools' default, so both functions agree
    namespace: str | None = None
    log_level: str = "INFO"


def telemetry(env: Mapping[str, str] | None = None) -> Telemetry:
    """The ``TELEMETRY_VARIABLES``. The level as Powertools picks it: Lambda's logging
    configuration first, then POWERTOOLS_LOG_LEVEL; Lambda's names (WARN, FATAL, TRACE) as
    Python's, an unknown one is INFO."""
    env = os.environ if env is None else env
    level = (
        _runtime(env, "AWS_LAMBDA_LOG_LEVEL") or _runtime(env, "POWERTOOLS_LOG_LEVEL") or "INFO"
    ).upper()
    level = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG"}.get(level, level)
    return Telemetry(
        service=_runtime(env, "POWERTOOLS_SERVICE_NAME") or Telemetry.service,
        namespace=_runtime(env, "POWERTOOLS_METRICS_NAMESPACE"),
        log_level=level if level in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"} else "INFO",
    )


def snap_start_init() -> bool:
    """Whether this init is the one Lambda snapshots (``AWS_LAMBDA_INITIALIZATION_TYPE``).

    Not part of ``Settings``: it describes the running phase, not the deployment, and is read
    before anything else is configured.
    """
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"
