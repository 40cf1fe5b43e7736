"""Property-based: any valid input is a 200 with scikit-learn's probabilities; any JSON is < 500."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import invoke, make_event

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
FIELDS = {
    "total_spent": st.floats(min_value=0, max_value=3.4e38, allow_nan=False, allow_infinity=False),
    "total_tracks_bought": st.integers(min_value=0, max_value=10**15),
    "genre_spending_ratio": st.floats(min_value=0, max_value=1, allow_nan=False),
}
valid_inputs = st.fixed_dictionaries({}, optional=FIELDS)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["total_spent", "customer_id", "country", "1e309", "NaN"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*FIELDS, "customer_id", "country"]) | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@SETTINGS
@given(data=valid_inputs)
def test_any_valid_input_is_200_with_sklearn_probabilities(data, predict_handler, local_model):
    answer = invoke(predict_handler, make_event(data))
    assert answer.status == 200, answer.raw
    probabilities = answer.body["prediction"]["all_probabilities"]
    values = list(probabilities.values())
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in values)
    assert abs(sum(values) - 1.0) < 1e-9
    row = [
        data.get("total_spent", 0.0),
        data.get("total_tracks_bought", 0),
        data.get("genre_spending_ratio", 0.0),
    ]
    assert probabilities == local_model.sklearn_proba(row)  # exact, every class


@SETTINGS
@given(value=json_values)
def test_any_json_value_is_never_5xx(value, predict_handler, local_model):
    raw = json.dumps(value)  # NaN/Infinity are written as the bare literals Python accepts
    answer = invoke(predict_handler, make_event(raw=raw, base64_body=False))
    assert answer.status < 500, (raw, answer.raw)
    if answer.status != 200:
        assert set(answer.body) == {"status", "message", "errors"}
