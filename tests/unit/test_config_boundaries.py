"""Each setting's range from both sides (the limit itself is accepted, one step past is refused
with the one line an operator reads), the words of those lines, and the Lambda runtime's
variables the signed S3 GET is built from."""

from __future__ import annotations

import pytest

from genre_model.config import ConfigError, Telemetry, load_settings, snap_start_init, telemetry


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    return str(refused.value)


@pytest.mark.parametrize(
    ("name", "top", "read"),
    [
        ("DB_CONNECT_TIMEOUT", 3600, lambda s: s.database.connect_timeout),
        ("DB_READ_TIMEOUT", 86400, lambda s: s.database.read_timeout),
        ("RF_N_ESTIMATORS", 10_000, lambda s: s.forest.n_estimators),
        ("DB_PORT", 65535, lambda s: s.database.port),
        ("RF_MAX_DEPTH", 2**31 - 1, lambda s: s.forest.max_depth),
        ("MIN_CUSTOMERS", 2**31 - 1, lambda s: s.min_customers),
        ("S3_MAX_ATTEMPTS", 2**31 - 1, lambda s: s.s3.max_attempts),
    ],
)
def test_integers_up_to_their_maximum_and_not_one_more(name: str, top: int, read) -> None:
    assert read(load_settings({name: str(top)})) == top
    low = 1  # each of these is a count of at least one
    assert read(load_settings({name: f"+{low}"})) == low
    assert refusal({name: str(top + 1)}) == (
        f"{name} must be between {low} and {top}, got '{top + 1}'"
    )
    assert refusal({name: str(low - 1)}) == (
        f"{name} must be between {low} and {top}, got '{low - 1}'"
    )


def test_the_smallest_integers_each_setting_takes() -> None:
    s = load_settings({"RF_MIN_SAMPLES_SPLIT": "2", "RF_RANDOM_STATE": "0", "RF_MAX_DEPTH": "none"})
    assert (s.forest.min_samples_split, s.forest.random_state, s.forest.max_depth) == (2, 0, None)
    assert refusal({"RF_MIN_SAMPLES_SPLIT": "1"}).startswith(
        "RF_MIN_SAMPLES_SPLIT must be between 2 and "
    )
    assert refusal({"MIN_CUSTOMERS": "None"}) == "MIN_CUSTOMERS must be an integer, got 'none'"
    assert refusal({"DB_PORT": "x"}) == "DB_PORT must be an integer, got 'x'"


def test_parallel_jobs_up_to_1024_either_way_and_never_zero() -> None:
    for jobs in (1024, -1024, 1, -1):
        assert load_settings({"RF_N_JOBS": str(jobs)}).forest.n_jobs == jobs
    assert load_settings({"RF_N_JOBS": " "}).forest.n_jobs is None
    for raw in ("1025", "-1025", "0"):
        assert refusal({"RF_N_JOBS": raw}) == (
            "RF_N_JOBS must be a non-zero integer between -1024 and 1024 (-1: all cores), "
            f"got '{raw}'"
        )


def test_the_refresh_interval_from_zero_to_a_day() -> None:
    for raw, value in (("0", 0.0), ("86400", 86400.0), ("1e1", 10.0), (".5", 0.5)):
        assert load_settings({"MODEL_REFRESH_SECONDS": raw}).model_refresh_seconds == value
    for raw in ("86400.001", "-0.001"):
        assert refusal({"MODEL_REFRESH_SECONDS": raw}) == (
            f"MODEL_REFRESH_SECONDS must be between 0 and 86400, got '{raw}'"
        )
    assert refusal({"MODEL_REFRESH_SECONDS": "soon"}) == (
        "MODEL_REFRESH_SECONDS must be a number, got 'soon'"
    )


def test_the_load_deadline_up_to_20_s_and_the_limits_inside_it() -> None:
    s = load_settings(
        {
            "MODEL_LOAD_DEADLINE_SECONDS": "20",
            "MODEL_REFRESH_BUDGET_SECONDS": "20",
            "S3_CONNECT_TIMEOUT": "20",
            "S3_READ_TIMEOUT": "20",
        }
    )
    assert (s.model_load_deadline, s.model_refresh_budget) == (20.0, 20.0)
    assert (s.s3.connect_timeout, s.s3.read_timeout) == (20.0, 20.0)
    assert refusal({"MODEL_LOAD_DEADLINE_SECONDS": "20.5"}) == (
        "MODEL_LOAD_DEADLINE_SECONDS must be > 0 and <= 20, got '20.5'"
    )
    deadline = {"MODEL_LOAD_DEADLINE_SECONDS": "4"}
    for name in ("MODEL_REFRESH_BUDGET_SECONDS", "S3_CONNECT_TIMEOUT", "S3_READ_TIMEOUT"):
        assert refusal({**deadline, name: "4.5"}) == f"{name} must be > 0 and <= 4, got '4.5'"
        assert refusal({name: "0"}) == f"{name} must be > 0 and <= 10, got '0'"
    assert refusal({"S3_READ_TIMEOUT": "1,5"}) == (
        "S3_READ_TIMEOUT must be a number of seconds, got '1,5'"
    )


def test_choices_are_read_case_and_space_insensitively() -> None:
    s = load_settings({"FEATURE_SET": " Location ", "DB_TLS": " REQUIRE "})
    assert (s.feature_set, s.database.tls) == ("location", "require")
    blank = load_settings({"FEATURE_SET": " ", "DB_TLS": ""})
    assert (blank.feature_set, blank.database.tls) == ("spec", "auto")
    assert refusal({"FEATURE_SET": "geo"}) == "FEATURE_SET must be one of spec, location, got 'geo'"
    assert refusal({"DB_TLS": "on"}) == "DB_TLS must be one of auto, require, disable, got 'on'"


def test_batch_items_up_to_the_ceiling() -> None:
    assert refusal({"MAX_BATCH_ITEMS": "10001"}) == "MAX_BATCH_ITEMS must be <= 10000, got 10001"
    assert load_settings({"MAX_BATCH_ITEMS": "1"}).max_batch_items == 1


def test_text_settings_are_stripped_and_blank_is_the_default() -> None:
    s = load_settings(
        {"MODEL_BUCKET": " b ", "DB_HOST": " ", "DB_USER": "", "DB_NAME": " chinook "}
    )
    assert (s.model_bucket, s.database.host, s.database.user) == ("b", "127.0.0.1", "root")
    assert s.database.name == "chinook"
    assert load_settings({}).model_prefix == "models/genre/"
    assert load_settings({"MODEL_PREFIX": " a/b "}).model_prefix == "a/b/"
    # only spaces and slashes are trimmed: a prefix's own first and last letters stay
    assert load_settings({"MODEL_PREFIX": "/XGB/runX/"}).model_prefix == "XGB/runX/"
    assert refusal({"MODEL_PREFIX": "a/../b"}) == (
        "MODEL_PREFIX must not contain '.', '..' or empty segments, got 'a/../b'"
    )


LAMBDA = {
    "AWS_LAMBDA_FUNCTION_NAME": "predict",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret-example",
    "AWS_REGION": "eu-west-1",
}


def test_inside_lambda_the_signed_get_takes_the_runtimes_credentials() -> None:
    signed = load_settings({**LAMBDA, "AWS_DEFAULT_REGION": "us-east-1"}).s3.signed_get
    assert signed is not None
    assert (signed.key_id, signed.secret, signed.region) == (
        "AKIDEXAMPLE",
        "secret-example",
        "eu-west-1",
    )
    assert (signed.token, signed.endpoint) == (None, None)
    env = {
        **{k: v for k, v in LAMBDA.items() if k != "AWS_REGION"},
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": "token",
        "AWS_ENDPOINT_URL": "http://all:1",
        "AWS_ENDPOINT_URL_S3": "http://s3:1",
    }
    signed = load_settings(env).s3.signed_get
    assert signed is not None
    assert (signed.region, signed.token, signed.endpoint) == ("us-east-1", "token", "http://s3:1")
    without_s3 = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL_S3"}
    assert load_settings(without_s3).s3.signed_get.endpoint == "http://all:1"


@pytest.mark.parametrize(
    "missing",
    ["AWS_LAMBDA_FUNCTION_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"],
)
def test_outside_lambda_or_without_credentials_boto3_reads(missing: str) -> None:
    assert load_settings({k: v for k, v in LAMBDA.items() if k != missing}).s3.signed_get is None
    assert load_settings({**LAMBDA, missing: ""}).s3.signed_get is None


def test_snap_start_init_is_only_the_snapshotting_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    assert snap_start_init() is True
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    assert snap_start_init() is False


def test_telemetry_names_default_to_powertools_own_and_blank_is_unset() -> None:
    assert telemetry({}) == Telemetry("service_undefined", None, "INFO")
    blank = {"POWERTOOLS_SERVICE_NAME": "", "POWERTOOLS_METRICS_NAMESPACE": ""}
    assert telemetry(blank) == Telemetry("service_undefined", None, "INFO")
    named = {"POWERTOOLS_SERVICE_NAME": "genre-predict", "POWERTOOLS_METRICS_NAMESPACE": "Genre"}
    assert telemetry(named) == Telemetry("genre-predict", "Genre", "INFO")


@pytest.mark.parametrize(
    ("lambda_level", "powertools_level", "level"),
    [
        *((name, "", name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
        ("warn", "", "WARNING"),
        ("Fatal", "", "CRITICAL"),
        ("TRACE", "", "DEBUG"),
        ("", "trace", "DEBUG"),  # Lambda's names from either variable
        ("", "error", "ERROR"),  # an empty Lambda level is unset: Powertools' is read
        ("ERROR", "DEBUG", "ERROR"),  # Lambda's logging configuration first
        ("NOTSET", "", "INFO"),  # a Python level outside the five is unknown too
        ("verbose", "DEBUG", "INFO"),
    ],
)
def test_the_log_level_lambda_s_names_then_powertools_unknown_is_info(
    lambda_level: str, powertools_level: str, level: str
) -> None:
    env = {"AWS_LAMBDA_LOG_LEVEL": lambda_level, "POWERTOOLS_LOG_LEVEL": powertools_level}
    assert telemetry(env).log_level == level


def test_telemetry_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "from-env")
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Ns")
    assert telemetry() == Telemetry("from-env", "Ns", "WARNING")


def test_training_reads_the_store_fully_unless_told_incremental() -> None:
    assert load_settings({}).aggregates == "full"
    assert load_settings({"TRAIN_AGGREGATES": "  "}).aggregates == "full"
    assert load_settings({"TRAIN_AGGREGATES": " Incremental "}).aggregates == "incremental"
    assert refusal({"TRAIN_AGGREGATES": "weekly"}) == (
        "TRAIN_AGGREGATES must be one of full, incremental, got 'weekly'"
    )


def test_the_training_sample_from_two_customers_or_none_default_a_million() -> None:
    assert load_settings({}).sample_rows == 1_000_000
    assert load_settings({"TRAIN_SAMPLE_ROWS": "2"}).sample_rows == 2
    assert load_settings({"TRAIN_SAMPLE_ROWS": "None"}).sample_rows is None  # never sample
    assert refusal({"TRAIN_SAMPLE_ROWS": "1"}) == (
        "TRAIN_SAMPLE_ROWS must be between 2 and 2147483647, got '1'"
    )


def test_the_database_secret_and_ca_bundle_are_read_stripped_and_blank_is_unset() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chinook"
    read = load_settings({"DB_SECRET_ARN": f" {arn} ", "DB_TLS_CA": " /etc/ca.pem "}).database
    assert (read.secret_arn, read.tls_ca) == (arn, "/etc/ca.pem")
    blank = load_settings({"DB_SECRET_ARN": " ", "DB_TLS_CA": ""}).database
    assert (blank.secret_arn, blank.tls_ca) == (None, None)


def test_parallel_jobs_that_are_not_a_number_are_named() -> None:
    assert refusal({"RF_N_JOBS": "all"}) == "RF_N_JOBS must be an integer, got 'all'"
