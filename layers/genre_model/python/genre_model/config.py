"""Every setting the service reads, read once from the environment into a frozen object.

Nothing else in the code base reads ``os.environ``: settings are built here, validated once, and
passed down. A missing or malformed setting raises one ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

DEFAULT_MODEL_PREFIX = "models/genre/"
DEFAULT_MAX_BATCH_ITEMS = 1000
# A batch answers inside the predict function's 29 s: 10,000 explained items take a few seconds.
MAX_BATCH_ITEMS_CEILING = 10_000
FEATURE_SETS = ("spec", "location")


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


@dataclass(frozen=True)
class ForestSettings:
    """Random-forest hyper-parameters; the defaults are the original system's."""

    n_estimators: int = 100
    max_depth: int | None = 10
    min_samples_split: int = 5
    random_state: int = 42
    n_jobs: int | None = None


@dataclass(frozen=True)
class Settings:
    """The whole configuration of both functions and the CLI."""

    model_bucket: str | None = None
    model_prefix: str = DEFAULT_MODEL_PREFIX
    model_path: str | None = None  # MODELO_GENERO_ENTRENADO: local pickle path or s3:// URI
    model_refresh_seconds: float = 300.0
    feature_set: str = "spec"
    min_customers: int = 10
    max_batch_items: int = DEFAULT_MAX_BATCH_ITEMS
    database: DatabaseSettings = DatabaseSettings()
    forest: ForestSettings = ForestSettings()


# Every variable the configuration reads and what it means (the README table is tested against it).
VARIABLES: dict[str, str] = {
    "MODEL_BUCKET": "S3 bucket holding the versioned model artifacts",
    "MODEL_PREFIX": "key prefix of the artifacts inside the bucket",
    "MODELO_GENERO_ENTRENADO": "local path of the scikit-learn pickle, or an s3:// URI",
    "MODEL_REFRESH_SECONDS": "how often predict checks latest.json for a new version",
    "FEATURE_SET": "`spec` (three spending features) or `location` (adds country)",
    "MIN_CUSTOMERS": "promotion rule: fewest labelled customers a new model needs",
    "MAX_BATCH_ITEMS": "most items one POST /api/predict-genre/batch may carry",
    "DB_SECRET_ARN": "Secrets Manager secret (RDS JSON: host, port, username, password, dbname)",
    "DB_HOST": "MySQL/MariaDB host",
    "DB_PORT": "MySQL/MariaDB port",
    "DB_USER": "MySQL/MariaDB user",
    "DB_PASSWORD": "MySQL/MariaDB password (empty is a valid password)",
    "DB_NAME": "database holding Chinook",
    "DB_CONNECT_TIMEOUT": "seconds to wait for the database connection",
    "DB_READ_TIMEOUT": "seconds to wait for the aggregation query",
    "CHINOOK_SQLITE_PATH": "train from this Chinook SQLite file instead of MySQL",
    "RF_N_ESTIMATORS": "trees in the forest",
    "RF_MAX_DEPTH": "maximum tree depth (`none` for unlimited)",
    "RF_MIN_SAMPLES_SPLIT": "minimum samples to split a node",
    "RF_RANDOM_STATE": "seed of the forest and of the train/test split",
    "RF_N_JOBS": "parallel jobs for fitting (-1: all cores)",
}


def _int(env: Mapping[str, str], name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() == "none":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
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
    raw = raw.strip().strip("/")
    return f"{raw}/" if raw else ""


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    feature_set = env.get("FEATURE_SET", "spec").strip().lower() or "spec"
    if feature_set not in FEATURE_SETS:
        raise ConfigError(
            f"FEATURE_SET must be one of {', '.join(FEATURE_SETS)}, got {feature_set!r}"
        )
    refresh_raw = env.get("MODEL_REFRESH_SECONDS", "").strip() or "300"
    try:
        refresh = float(refresh_raw)
    except ValueError:
        raise ConfigError(f"MODEL_REFRESH_SECONDS must be a number, got {refresh_raw!r}") from None
    if not refresh >= 0:
        raise ConfigError(f"MODEL_REFRESH_SECONDS must be >= 0, got {refresh_raw!r}")
    n_jobs_raw = env.get("RF_N_JOBS", "").strip()
    try:
        n_jobs = int(n_jobs_raw) if n_jobs_raw else None
    except ValueError:
        raise ConfigError(f"RF_N_JOBS must be an integer, got {n_jobs_raw!r}") from None
    if n_jobs == 0:
        raise ConfigError("RF_N_JOBS must be a non-zero integer (-1: all cores), got 0")
    max_batch_items = _required_int(env, "MAX_BATCH_ITEMS", DEFAULT_MAX_BATCH_ITEMS, minimum=1)
    if max_batch_items > MAX_BATCH_ITEMS_CEILING:
        raise ConfigError(
            f"MAX_BATCH_ITEMS must be <= {MAX_BATCH_ITEMS_CEILING}, got {max_batch_items}"
        )
    return Settings(
        model_bucket=_text(env, "MODEL_BUCKET"),
        model_prefix=_prefix(env.get("MODEL_PREFIX", DEFAULT_MODEL_PREFIX)),
        model_path=_text(env, "MODELO_GENERO_ENTRENADO"),
        model_refresh_seconds=refresh,
        feature_set=feature_set,
        min_customers=_required_int(env, "MIN_CUSTOMERS", 10, minimum=1),
        max_batch_items=max_batch_items,
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
