"""Settings: defaults, one ConfigError naming the variable for each bad value, no password leaks."""

from __future__ import annotations

import pytest

from genre_model.config import (
    DEFAULT_MODEL_PREFIX,
    ConfigError,
    DatabaseSettings,
    ForestSettings,
    Settings,
    load_settings,
    settings,
)


def test_defaults_from_an_empty_environment() -> None:
    s = load_settings({})
    assert s.model_bucket is None
    assert s.model_prefix == DEFAULT_MODEL_PREFIX == "models/genre/"
    assert s.model_path is None
    assert s.model_refresh_seconds == 300.0
    assert s.feature_set == "spec"
    assert s.min_customers == 10
    db = s.database
    assert (db.secret_arn, db.host, db.port, db.user, db.password, db.name, db.sqlite_path) == (
        None,
        "127.0.0.1",
        3306,
        "root",
        "",
        "Chinook",
        None,
    )
    assert (db.connect_timeout, db.read_timeout) == (10, 600)
    assert s.forest == ForestSettings(
        n_estimators=100, max_depth=10, min_samples_split=5, random_state=42, n_jobs=None
    )


def test_blank_values_mean_default() -> None:
    blank = dict.fromkeys(("DB_PORT", "MIN_CUSTOMERS", "RF_N_ESTIMATORS", "DB_HOST"), "  ")
    assert load_settings(blank) == load_settings({})


def test_values_are_parsed() -> None:
    s = load_settings(
        {
            "MODEL_BUCKET": "my-bucket",
            "MODEL_PREFIX": "/a/b/",
            "MODELO_GENERO_ENTRENADO": "/tmp/modelo.pkl",
            "MODEL_REFRESH_SECONDS": "2.5",
            "FEATURE_SET": " Location ",
            "MIN_CUSTOMERS": "3",
            "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "DB_HOST": "db.example",
            "DB_PORT": "3307",
            "DB_USER": "reader",
            "DB_PASSWORD": " pa ss ",
            "DB_NAME": "chinook",
            "CHINOOK_SQLITE_PATH": "/data/c.sqlite",
            "RF_N_ESTIMATORS": "7",
            "RF_MAX_DEPTH": "none",
            "RF_MIN_SAMPLES_SPLIT": "2",
            "RF_RANDOM_STATE": "0",
            "RF_N_JOBS": "-1",
        }
    )
    assert s.model_bucket == "my-bucket"
    assert s.model_prefix == "a/b/"
    assert s.model_path == "/tmp/modelo.pkl"
    assert s.model_refresh_seconds == 2.5
    assert s.feature_set == "location"
    assert s.min_customers == 3
    assert s.database.host == "db.example"
    assert s.database.port == 3307
    assert s.database.user == "reader"
    assert s.database.password == " pa ss "  # passwords are taken verbatim, never stripped
    assert s.database.name == "chinook"
    assert s.database.sqlite_path == "/data/c.sqlite"
    assert s.forest == ForestSettings(7, None, 2, 0, -1)


def test_empty_db_password_is_valid() -> None:
    s = load_settings({"DB_PASSWORD": ""})
    assert s.database.password == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEATURE_SET", "genres"),
        ("MODEL_REFRESH_SECONDS", "soon"),
        ("MODEL_REFRESH_SECONDS", "-1"),
        ("MODEL_REFRESH_SECONDS", "nan"),
        ("MIN_CUSTOMERS", "ten"),
        ("MIN_CUSTOMERS", "0"),
        ("MIN_CUSTOMERS", "none"),
        ("DB_PORT", "mysql"),
        ("DB_PORT", "0"),
        ("DB_PORT", "none"),
        ("DB_PORT", "33.06"),
        ("DB_CONNECT_TIMEOUT", "0"),
        ("DB_CONNECT_TIMEOUT", "x"),
        ("DB_READ_TIMEOUT", "-5"),
        ("RF_N_ESTIMATORS", "0"),
        ("RF_N_ESTIMATORS", "many"),
        ("RF_N_ESTIMATORS", "none"),
        ("RF_MAX_DEPTH", "0"),
        ("RF_MAX_DEPTH", "deep"),
        ("RF_MIN_SAMPLES_SPLIT", "1"),
        ("RF_MIN_SAMPLES_SPLIT", "none"),
        ("RF_RANDOM_STATE", "-1"),
        ("RF_RANDOM_STATE", "seed"),
        ("RF_N_JOBS", "all"),
        ("RF_N_JOBS", "0"),  # scikit-learn/joblib reject n_jobs=0 at fit time
        # upper bounds: what scikit-learn, TCP, pymysql and the socket layer accept
        ("RF_RANDOM_STATE", str(2**32)),
        ("RF_RANDOM_STATE", "99999999999999999999999"),
        ("DB_PORT", "65536"),
        ("DB_CONNECT_TIMEOUT", "31536001"),
        ("DB_READ_TIMEOUT", str(10**20)),
        ("RF_N_ESTIMATORS", str(10**12)),
        ("RF_MAX_DEPTH", str(2**63)),
        ("RF_MIN_SAMPLES_SPLIT", str(2**31)),
        ("RF_N_JOBS", str(10**6)),
        ("RF_N_JOBS", "-100000"),
        ("MIN_CUSTOMERS", str(2**64)),
        ("MODEL_REFRESH_SECONDS", "inf"),
        ("MODEL_REFRESH_SECONDS", "1e400"),
        ("MAX_BATCH_ITEMS", "0"),
        ("MAX_BATCH_ITEMS", "none"),
        ("MAX_BATCH_ITEMS", "1e3"),
        ("MAX_BATCH_ITEMS", "10001"),  # would not answer inside the function's 29 s
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    "name",
    [
        "RF_RANDOM_STATE",
        "DB_PORT",
        "RF_N_JOBS",
        "MIN_CUSTOMERS",
        "MODEL_REFRESH_SECONDS",
        "MODEL_LOAD_DEADLINE_SECONDS",
        "S3_READ_TIMEOUT",
        "S3_MAX_ATTEMPTS",
    ],
)
@pytest.mark.parametrize(
    "value",
    ["\u0664\u0662", "\uff14\uff12", "4\u0662", "4_2", "\u00b2", "\U0001d7d2", "0x2a"],
)
def test_numbers_are_ascii_digits_only(name: str, value: str) -> None:
    """int() and float() accept Arabic-Indic, full-width and mathematical digits and '4_2'."""
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    "prefix", ["../x", "models/../x", "./models", "models/./genre", "a//b", "models/.."]
)
def test_model_prefix_with_dot_or_empty_segments_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_PREFIX"):
        load_settings({"MODEL_PREFIX": prefix})


def test_model_prefix_plain_segments_are_kept() -> None:
    assert load_settings({"MODEL_PREFIX": "/a.b/..c/genre/"}).model_prefix == "a.b/..c/genre/"
    assert load_settings({"MODEL_PREFIX": "/"}).model_prefix == ""


def test_largest_accepted_values() -> None:
    s = load_settings({"RF_RANDOM_STATE": str(2**32 - 1), "DB_PORT": "65535", "RF_N_JOBS": "-2"})
    assert (s.forest.random_state, s.database.port, s.forest.n_jobs) == (2**32 - 1, 65535, -2)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_password_never_in_repr() -> None:
    secret = "s3cr3t-Pa55"
    db = DatabaseSettings(password=secret)
    assert secret not in repr(db)
    assert secret not in str(db)
    s = load_settings({"DB_PASSWORD": secret})
    assert s.database.password == secret
    assert secret not in repr(s)
    assert secret not in repr(Settings(database=db))


def test_process_settings_read_once_from_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIN_CUSTOMERS", "4")
    first = settings()
    assert first.min_customers == 4
    monkeypatch.setenv("MIN_CUSTOMERS", "5")
    assert settings() is first  # cached: read once
    settings.cache_clear()
    assert settings().min_customers == 5


def test_s3_limits_default_well_inside_api_gateway() -> None:
    s = load_settings({})
    assert (s.model_refresh_budget, s.model_load_deadline) == (1.0, 10.0)
    assert (s.s3.connect_timeout, s.s3.read_timeout, s.s3.max_attempts) == (1.0, 1.0, 3)
    tuned = load_settings(
        {
            "MODEL_LOAD_DEADLINE_SECONDS": "4",
            "MODEL_REFRESH_BUDGET_SECONDS": "0.5",
            "S3_CONNECT_TIMEOUT": "0.2",
            "S3_READ_TIMEOUT": "0.3",
            "S3_MAX_ATTEMPTS": "5",
        }
    )
    assert (tuned.model_refresh_budget, tuned.model_load_deadline) == (0.5, 4.0)
    assert (tuned.s3.connect_timeout, tuned.s3.read_timeout, tuned.s3.max_attempts) == (0.2, 0.3, 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_LOAD_DEADLINE_SECONDS", "0"),
        ("MODEL_LOAD_DEADLINE_SECONDS", "29"),  # API Gateway would answer 504 first
        ("MODEL_LOAD_DEADLINE_SECONDS", "nan"),
        ("MODEL_REFRESH_BUDGET_SECONDS", "11"),  # more than the load deadline
        ("MODEL_REFRESH_BUDGET_SECONDS", "-1"),
        ("S3_CONNECT_TIMEOUT", "inf"),
        ("S3_READ_TIMEOUT", "soon"),
        ("S3_MAX_ATTEMPTS", "0"),
    ],
)
def test_bad_s3_limit_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_max_batch_items() -> None:
    assert load_settings({}).max_batch_items == 1000
    assert load_settings({"MAX_BATCH_ITEMS": " 25 "}).max_batch_items == 25
    assert load_settings({"MAX_BATCH_ITEMS": "10000"}).max_batch_items == 10_000
