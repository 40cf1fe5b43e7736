"""What training writes and serving reads: file names, version names, the manifest and pointer,
feature columns and the country encoding, the predictor and snapshot.

A SHA-256 proves the bytes are the ones published, not that they are sane: a buggy or hostile
trainer can publish a correctly hashed forest whose indexes point outside its arrays, whose
depth lies (each request would loop that many times) or whose leaves hold NaN. So the payloads
are validated here, once, when a version is loaded, and a version that breaks any rule is
refused like a hash mismatch. Imports only numpy: this module is on the predict path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

POINTER = "latest.json"
MANIFEST = "manifest.json"
MODEL_FILE = "model.joblib"
PREDICTOR_FILE = "predictor.joblib"
CUSTOMERS_FILE = "customers.joblib"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.json"  # the figures of the run (``Headline`` is what serve reads of it)
REPORT_PICTURE = "report.png"  # confusion matrix, importances, history (train/report.py)

# What ``artifacts.new_version`` has always written: UTC time, then at least 6 hex digits.
VERSION_PATTERN = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6,64}")  # ASCII digits only
VERSION_EXAMPLE = "20261126T020000Z-1a2b3c"

FORMAT = "genre-model-forest/1"
# Feature columns in the order of a predictor row; the snapshot stores the spending ones.
SPEC_FEATURES = ("total_spent", "total_tracks_bought", "genre_spending_ratio")
COUNTRY_FEATURE = "country_code"
LOCATION_FEATURES = (*SPEC_FEATURES, COUNTRY_FEATURE)
FEATURE_COLUMNS = {"spec": SPEC_FEATURES, "location": LOCATION_FEATURES}  # by FEATURE_SET
# Country encoding: code i+1 is the i-th country seen in training (sorted); 0 is the unknown
# bucket, for a country training never saw, none, and the name training gives a missing one.
UNKNOWN_COUNTRY = "Unknown"
UNKNOWN_COUNTRY_CODE = 0
LEAF_SUM_TOLERANCE = 1e-6
# Bounds of a forest predict will walk (a request loops once per level: ~0.5 ms at 256 levels
# for 100 trees). Trained forests stay inside: depth 10 by default; unlimited depth
# (RF_MAX_DEPTH=none) on a million noisy customers measured 67-155 levels (min_samples_split 2-5);
# 10,000 trees (RF_N_ESTIMATORS' maximum) of depth 10 are at most 20.5M nodes. Training refuses
# to promote a forest beyond either bound (it is validated as predict loads it).
MAX_TREE_DEPTH = 256
MAX_NODES = 2**25
# What the request schema accepts, and so what a snapshot may hold (schemas imports these).
MAX_FEATURE_VALUE = 3.4e38  # larger values overflow float32, the precision the forest compares in
MAX_TRACKS = 10**15
MAX_RATIO = 1
MIN_CUSTOMER_ID, MAX_CUSTOMER_ID = 1, 2**63 - 1
MAX_COUNTRY_LENGTH = 64


class ContractError(ValueError):
    """A name or an artifact breaks the contract between training and serving."""


class InvalidVersion(ContractError):
    """A version name that is not one training writes (``../../evil``, empty, not a string)."""


class PredictorError(ContractError):
    """The predictor payload is not one this code can evaluate safely."""


class SnapshotError(ContractError):
    """The customer snapshot is malformed or does not fit the version's predictor."""


def check_version(value: object, where: str = "version") -> str:
    """``value`` if it is a version name training writes, else ``InvalidVersion``."""
    if isinstance(value, str) and VERSION_PATTERN.fullmatch(value):
        return value
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise InvalidVersion(f"{where} {shown} is not a version name (like {VERSION_EXAMPLE})")


def is_version(value: object) -> bool:
    return isinstance(value, str) and VERSION_PATTERN.fullmatch(value) is not None


def country_codes(countries: Iterable[str]) -> dict[str, int]:
    """Country -> code, in the order training stored them (``Forest.countries``)."""
    return {country: code for code, country in enumerate(countries, start=UNKNOWN_COUNTRY_CODE + 1)}


def country_code(codes: Mapping[str, int], country: str | None) -> int:
    """The code of a cleaned country name (``clean_name``); unseen or none is the unknown bucket."""
    return codes.get(country, UNKNOWN_COUNTRY_CODE) if country else UNKNOWN_COUNTRY_CODE


def pack_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    return {k: (a.dtype.str, a.shape, a.tobytes()) for k, a in arrays.items()}


def unpack_arrays(
    packed: Mapping[str, tuple[str, tuple[int, ...], bytes]],
) -> dict[str, np.ndarray]:
    return {
        k: np.frombuffer(raw, dtype=dt).reshape(shape) for k, (dt, shape, raw) in packed.items()
    }


def _arrays(
    payload: Mapping[str, Any], kinds: Mapping[str, str], error: type
) -> dict[str, np.ndarray]:
    """The named arrays, each of a numeric kind (``i`` integer, ``f`` float), never objects."""
    packed = payload.get("arrays")
    if not isinstance(packed, Mapping):
        raise error("payload has no arrays")
    arrays = {}
    for name, kind in kinds.items():
        try:
            dtype, shape, raw = packed[name]
            if np.dtype(dtype).kind not in "iuf":
                raise TypeError(f"dtype {dtype}")
            array = np.frombuffer(raw, dtype=dtype).reshape(tuple(shape))
        except (KeyError, TypeError, ValueError) as exc:
            raise error(f"array {name!r} unusable: {exc}") from None
        if array.dtype.kind not in kind:
            raise error(f"array {name!r} has dtype {array.dtype}, expected kind {kind!r}")
        arrays[name] = array
    return arrays


def _strings(payload: Mapping[str, Any], name: str, error: type) -> tuple[str, ...]:
    value = payload.get(name)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise error(f"{name} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Forest:
    """A validated predictor payload: every index in range, depth exact, leaves probabilities."""

    classes: tuple[str, ...]
    feature_columns: tuple[str, ...]
    countries: tuple[str, ...]
    depth: int
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    cover: np.ndarray | None = None  # training rows per node (explain); absent before covers
    drift: DriftBins | None = None  # the training snapshot's bins; absent before drift


# Bins of each feature for the drift figure: the training snapshot's decile edges. Equal edges
# (a feature with many equal values) leave empty bins, and ``expected`` says so.
DRIFT_BINS = 10


@dataclass(frozen=True)
class DriftBins:
    """Per feature (predictor column order): ``edges`` (n_features, DRIFT_BINS - 1), a value
    ``x`` falls in bin ``searchsorted(edges, x, side="right")``; ``expected`` (n_features,
    DRIFT_BINS) the fraction of training rows in each bin (each row sums to 1)."""

    edges: np.ndarray
    expected: np.ndarray


def drift_bins(rows: np.ndarray) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """The packed ``drift_edges``/``drift_expected`` arrays of a training matrix (rows x
    features): what ``export_forest`` stores and ``validate_forest`` reads back."""
    rows = np.asarray(rows, dtype=np.float64)
    quantiles = np.linspace(0, 1, DRIFT_BINS + 1)[1:-1]
    edges = np.quantile(rows, quantiles, axis=0).T.copy()  # (features, DRIFT_BINS - 1)
    expected = np.empty((rows.shape[1], DRIFT_BINS))
    for j in range(rows.shape[1]):
        bins = np.searchsorted(edges[j], rows[:, j], side="right")
        expected[j] = np.bincount(bins, minlength=DRIFT_BINS) / len(rows)
    return pack_arrays({"drift_edges": edges, "drift_expected": expected})


def validate_forest(payload: Mapping[str, Any]) -> Forest:
    """The forest ``forest.export_forest`` writes, or ``PredictorError`` naming the broken rule."""
    if not isinstance(payload, Mapping):
        raise PredictorError("predictor payload is not a dict")
    if payload.get("format") != FORMAT:
        raise PredictorError(f"unsupported predictor format {payload.get('format')!r}")
    classes = _strings(payload, "classes", PredictorError)
    columns = _strings(payload, "feature_columns", PredictorError)
    countries = _strings(payload, "countries", PredictorError)
    if not classes or len(set(classes)) != len(classes):
        raise PredictorError("classes must be distinct and at least one")
    if len(set(countries)) != len(countries):
        raise PredictorError("countries must be distinct (each is one code)")
    if columns not in FEATURE_COLUMNS.values():
        raise PredictorError(f"feature_columns {list(columns)} are not a known feature set")
    depth = payload.get("depth")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise PredictorError(f"depth {depth!r} is not a non-negative integer")
    a = _arrays(
        payload,
        {
            "feature": "iu",
            "threshold": "f",
            "left": "iu",
            "right": "iu",
            "value": "f",
            "roots": "iu",
        },
        PredictorError,
    )
    n = len(a["left"])
    if n > MAX_NODES:
        raise PredictorError(f"{n} nodes, more than the {MAX_NODES} a forest may have")
    for name in ("feature", "threshold", "left", "right"):
        if a[name].shape != (n,):
            raise PredictorError(f"{name} has shape {a[name].shape}, expected ({n},)")
    if a["value"].shape != (n, len(classes)):
        raise PredictorError(
            f"value has shape {a['value'].shape}, expected ({n}, {len(classes)}) for the classes"
        )
    roots = a["roots"]
    if roots.ndim != 1 or len(roots) == 0:
        raise PredictorError("the forest has no tree (no roots)")
    for name in ("left", "right", "roots"):
        if (a[name] < 0).any() or (a[name] >= n).any():
            raise PredictorError(f"{name} indexes outside the {n} nodes")
    if (a["feature"] < 0).any() or (a["feature"] >= len(columns)).any():
        raise PredictorError(f"feature indexes outside the {len(columns)} feature columns")
    index = np.arange(n)
    leaf = a["left"] == index
    if not np.array_equal(leaf, a["right"] == index):
        raise PredictorError("a node loops on one side only (a leaf must loop on both)")
    if not np.isfinite(a["threshold"]).all():
        raise PredictorError("thresholds must be finite")
    leaves = a["value"][leaf]
    if not np.isfinite(leaves).all() or (leaves < 0).any():
        raise PredictorError("leaf probabilities must be finite and non-negative")
    if (np.abs(leaves.sum(axis=1) - 1.0) > LEAF_SUM_TOLERANCE).any():
        raise PredictorError("leaf probabilities must sum to 1")
    real = _depth(roots, a["left"], a["right"], leaf)
    if depth != real:
        raise PredictorError(f"stored depth {depth} is not the forest's real depth {real}")
    cover = None
    if "cover" in payload["arrays"]:  # optional: versions published before covers lack it
        cover = _arrays(payload, {"cover": "f"}, PredictorError)["cover"]
        if cover.shape != (n,) or not np.isfinite(cover).all() or (cover < 0).any():
            raise PredictorError(f"cover must be {n} finite non-negative node weights")
    drift = _drift(payload, len(columns)) if "drift_edges" in payload["arrays"] else None
    return Forest(classes, columns, countries, depth, **a, cover=cover, drift=drift)


def _drift(payload: Mapping[str, Any], n_features: int) -> DriftBins:
    """The drift bins, checked: finite sorted edges, expected fractions summing to 1."""
    a = _arrays(payload, {"drift_edges": "f", "drift_expected": "f"}, PredictorError)
    edges, expected = a["drift_edges"], a["drift_expected"]
    if edges.shape != (n_features, DRIFT_BINS - 1) or expected.shape != (n_features, DRIFT_BINS):
        raise PredictorError(f"drift bins must be {DRIFT_BINS} per feature column")
    if not np.isfinite(edges).all() or (np.diff(edges, axis=1) < 0).any():
        raise PredictorError("drift edges must be finite and sorted")
    if not np.isfinite(expected).all() or (expected < 0).any():
        raise PredictorError("drift expected fractions must be finite and non-negative")
    if (np.abs(expected.sum(axis=1) - 1.0) > LEAF_SUM_TOLERANCE).any():
        raise PredictorError("drift expected fractions must sum to 1 per feature")
    return DriftBins(edges, expected)


def _depth(roots: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    """Levels from the roots to the deepest leaf, walking at most ``MAX_TREE_DEPTH`` levels: a
    deeper path is a cycle or a tree too deep to serve, refused either way."""
    frontier = np.unique(roots)
    for level in range(MAX_TREE_DEPTH + 1):
        inner = frontier[~leaf[frontier]]
        if len(inner) == 0:
            return level
        frontier = np.unique(np.concatenate([left[inner], right[inner]]))
    raise PredictorError(
        f"a path is longer than {MAX_TREE_DEPTH} levels: the nodes form a cycle, "
        f"or a tree deeper than the {MAX_TREE_DEPTH} levels a forest may have"
    )


@dataclass(frozen=True)
class Snapshot:
    """A validated customer snapshot: sorted ids, one finite feature row and a country each."""

    ids: np.ndarray
    features: np.ndarray
    countries: tuple[str, ...]


def validate_snapshot(payload: Mapping[str, Any], feature_columns: tuple[str, ...]) -> Snapshot:
    """The snapshot ``pipeline.customer_snapshot`` writes, checked against the model's columns."""
    if not isinstance(payload, Mapping):
        raise SnapshotError("snapshot payload is not a dict")
    columns = _strings(payload, "feature_columns", SnapshotError)
    expected = tuple(c for c in feature_columns if c != COUNTRY_FEATURE)
    if columns != expected:
        raise SnapshotError(
            f"snapshot columns {list(columns)} are not the model's {list(expected)}"
        )
    countries = _strings(payload, "countries", SnapshotError)
    a = _arrays(payload, {"customer_id": "iu", "features": "f"}, SnapshotError)
    ids, features = a["customer_id"], a["features"]
    if ids.ndim != 1 or features.shape != (len(ids), len(columns)) or len(countries) != len(ids):
        raise SnapshotError("snapshot ids, feature rows and countries do not line up")
    if len(ids) > 1 and not (np.diff(ids) > 0).all():
        raise SnapshotError("snapshot customer ids must be strictly increasing")
    if len(ids) and (ids.min() < MIN_CUSTOMER_ID or ids.max() > MAX_CUSTOMER_ID):
        raise SnapshotError(
            f"snapshot customer ids must be from {MIN_CUSTOMER_ID} to {MAX_CUSTOMER_ID}"
        )
    if any(not 1 <= len(c) <= MAX_COUNTRY_LENGTH for c in countries):
        raise SnapshotError(f"snapshot countries must have 1 to {MAX_COUNTRY_LENGTH} characters")
    for j, column in enumerate(columns):
        _check_feature(column, features[:, j])
    return Snapshot(ids, features, countries)


FEATURE_LIMITS = {  # column -> (largest value, whole numbers only), as the request schema says
    "total_spent": (MAX_FEATURE_VALUE, False),
    "total_tracks_bought": (float(MAX_TRACKS), True),
    "genre_spending_ratio": (MAX_RATIO, False),
}


def _check_feature(column: str, values: np.ndarray) -> None:
    """Each stored value is one a request could send for ``column`` (finite, in its range)."""
    top, whole = FEATURE_LIMITS[column]
    if not np.isfinite(values).all() or (values < 0).any() or (values > top).any():
        raise SnapshotError(f"snapshot {column} must be finite numbers from 0 to {top:g}")
    if whole and (np.floor(values) != values).any():
        raise SnapshotError(f"snapshot {column} must be whole numbers")


class ManifestError(ContractError):
    """A manifest field the serve side reads has the wrong type (GET /api/model shows them)."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a version as its manifest lists it: what ``verified`` checks its bytes by."""

    sha256: str
    size: int  # JSON key "bytes"


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: training writes it with ``to_json``, serving reads it with ``from_json``.

    Absent fields take the defaults ``GET /api/model`` has always shown; present ones must be
    of the type its ``ModelSummary`` documents, or the version is refused. The keys are the ones
    every version ever written has, so old manifests read and new ones stay readable by old code.
    """

    version: str
    created: str = ""
    classes: tuple[str, ...] = ()
    feature_set: str = "spec"
    feature_columns: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    source: str = ""
    libraries: dict[str, str] = field(default_factory=dict)

    @property
    def labelled(self) -> int | None:
        """Labelled customers of the run (the promotion rules compare them)."""
        return self.rows.get("labelled")

    def holdout(self, metric: str) -> float | None:
        """A holdout metric (``model_accuracy``, ``baseline_accuracy``) when it is a number."""
        return self.estimate("holdout", metric)

    def estimate(self, where: str, metric: str) -> float | None:
        """A metric of ``holdout`` or ``cross_validation`` when it is a number."""
        block = self.metrics.get(where)
        value = block.get(metric) if isinstance(block, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    @classmethod
    def from_json(cls, value: object) -> Manifest:
        """The typed manifest, or ``ManifestError`` naming the first field of a wrong type."""
        if not isinstance(value, Mapping):
            raise ManifestError("manifest is not a JSON object")
        try:
            version = check_version(value.get("version"), "manifest names")
        except InvalidVersion as exc:
            raise ManifestError(str(exc)) from None
        rows = _field(value, "rows", dict, {})
        if not all(isinstance(k, str) and _is_count(n) for k, n in rows.items()):
            raise ManifestError("manifest rows must map names to non-negative integers")
        files = {}
        for name, entry in _field(value, "files", dict, {}).items():
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("sha256"), str)
                and _is_count(entry.get("bytes", 0))
            ):
                raise ManifestError(f"manifest files[{name!r}] must be {{sha256, bytes}}")
            files[name] = FileEntry(entry["sha256"], entry.get("bytes", 0))
        libraries = _field(value, "libraries", dict, {})
        if not all(isinstance(v, str) for v in libraries.values()):
            raise ManifestError("manifest libraries must map names to version strings")
        return cls(
            version=version,
            created=_field(value, "created", str, ""),
            classes=_names(value, "classes"),
            feature_set=_field(value, "feature_set", str, "spec"),
            feature_columns=_names(value, "feature_columns"),
            countries=_names(value, "countries"),
            rows=rows,
            metrics=_field(value, "metrics", dict, {}),
            files=files,
            source=_field(value, "source", str, ""),
            libraries=libraries,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``from_json`` reads back equal (and the code before it read)."""
        return {
            "version": self.version,
            "created": self.created,
            "source": self.source,
            "feature_set": self.feature_set,
            "feature_columns": list(self.feature_columns),
            "classes": list(self.classes),
            "countries": list(self.countries),
            "rows": dict(self.rows),
            "libraries": dict(self.libraries),
            "metrics": self.metrics,
            "files": {n: {"sha256": f.sha256, "bytes": f.size} for n, f in self.files.items()},
        }


REPORT_FORMAT = "genre-model-report/1"


class ReportError(ContractError):
    """``report.json`` is not a report this code can show (wrong shape, a figure not a number)."""


@dataclass(frozen=True)
class Headline:
    """The headline figures of ``report.json``: what ``GET /api/model`` shows of the live
    version and ``versions`` of each. Accuracies and macro-F1 are fractions in [0, 1]; the
    baseline is the majority class, always shown beside the model."""

    holdout: dict[str, float]  # model/baseline accuracy and macro-F1 on the 20 % split
    cross_validation: dict[str, float]  # the same four, means over the folds
    beats_baseline: bool  # decided on cross-validation
    baseline_genre: str
    labelled_customers: int
    data_watermark: dict[str, Any]  # which data: source, when it was read, customers read

    FIGURES = ("model_accuracy", "baseline_accuracy", "model_macro_f1", "baseline_macro_f1")

    @classmethod
    def from_report(cls, value: object, version: str) -> Headline:
        """The headline of a version's report, or ``ReportError`` naming what is wrong: a hash
        proves the bytes were published, not that they are figures."""
        if not isinstance(value, Mapping) or value.get("format") != REPORT_FORMAT:
            raise ReportError(f"{REPORT_FILE} is not a {REPORT_FORMAT} object")
        if value.get("version") != version:
            raise ReportError(f"{REPORT_FILE} names version {value.get('version')!r}")
        head = value.get("headline")
        if not isinstance(head, Mapping):
            raise ReportError(f"{REPORT_FILE} has no headline")
        estimates = {name: _fractions(head, name) for name in ("holdout", "cross_validation")}
        beats, genre = head.get("beats_baseline"), head.get("baseline_genre")
        labelled, watermark = head.get("labelled_customers"), head.get("data_watermark")
        if not isinstance(beats, bool) or not isinstance(genre, str):
            raise ReportError("headline beats_baseline must be a boolean, baseline_genre a name")
        if not isinstance(labelled, int) or not _is_count(labelled):
            raise ReportError("headline labelled_customers must be a count")
        if not isinstance(watermark, Mapping):
            raise ReportError("headline data_watermark must be a map")
        if not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in watermark.values()
        ):
            raise ReportError("headline data_watermark values must be strings or integers")
        return cls(
            **estimates,
            beats_baseline=beats,
            baseline_genre=genre,
            labelled_customers=labelled,
            data_watermark=dict(watermark),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "holdout": dict(self.holdout),
            "cross_validation": dict(self.cross_validation),
            "beats_baseline": self.beats_baseline,
            "baseline_genre": self.baseline_genre,
            "labelled_customers": self.labelled_customers,
            "data_watermark": dict(self.data_watermark),
        }


def _fractions(head: Mapping[str, Any], name: str) -> dict[str, float]:
    block = head.get(name)
    if not isinstance(block, Mapping):
        raise ReportError(f"headline {name} is missing")
    values = {}
    for figure in Headline.FIGURES:
        v = block.get(figure)
        if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1):
            raise ReportError(f"headline {name}.{figure} must be a number from 0 to 1")
        values[figure] = float(v)
    return values


@dataclass(frozen=True)
class Pointer:
    """``latest.json``: the promoted version, its manifest's key and when it was promoted."""

    version: str
    manifest_key: str
    promoted_at: str = ""

    @classmethod
    def from_json(cls, value: object, where: str = POINTER) -> Pointer:
        """The typed pointer, or ``ContractError`` when it names no version; reads the key
        "manifest" of old fixtures. Readers find the manifest from the version alone (as every
        earlier release did), so a hand-edited ``manifest_key`` or ``promoted_at`` of another
        type is read as unknown (``""``) rather than taking the served model down."""
        if not isinstance(value, Mapping):
            raise ContractError(f"{where} is not a JSON object")
        version = check_version(value.get("version"), f"{where} names")
        key = value.get("manifest_key", value.get("manifest", ""))
        promoted_at = value.get("promoted_at", "")
        return cls(
            version,
            key if isinstance(key, str) else "",
            promoted_at if isinstance(promoted_at, str) else "",
        )

    def to_json(self) -> dict[str, str]:
        return {
            "version": self.version,
            "manifest_key": self.manifest_key,
            "promoted_at": self.promoted_at,
        }


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field(value: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    field = value.get(name, default)
    if not isinstance(field, kind):
        raise ManifestError(f"manifest {name} is {type(field).__name__}, expected {kind.__name__}")
    return field


def _names(value: Mapping[str, Any], name: str) -> tuple[str, ...]:
    field = _field(value, name, list, [])
    if not all(isinstance(v, str) for v in field):
        raise ManifestError(f"manifest {name} must be a list of strings")
    return tuple(field)


def clean_name(value: str | None) -> str | None:
    """A genre or country name as training stores it and serving looks it up: control
    characters (NUL, tab, newline) removed, surrounding spaces stripped, blank is None. One
    rule for both wings, so a request's ' USA' is the USA training saw."""
    if value is None:
        return None
    text = "".join(c for c in value if unicodedata.category(c) != "Cc").strip()
    return text or None
