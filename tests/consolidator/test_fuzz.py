"""Property-based fuzz of the webhook: never a 5xx, and the server stays up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import consolidator, request

JSON_HEADERS = {"Content-Type": "application/json"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)
FIELDS = ["version", "status", "alerts", "labels", "startsAt", "endsAt", "fingerprint",
          "annotations", "truncatedAlerts", "groupLabels"]


@st.composite
def mutated_payloads(draw: st.DrawFn) -> Any:
    """A valid payload with one field of the payload or of an alert replaced by anything."""
    body = payload(alert(draw(st.text(min_size=1, max_size=20))))
    target = body if draw(st.booleans()) else body["alerts"][0]
    target[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return body


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_payloads().map(lambda v: json.dumps(v).encode()),
)


def test_webhook_never_answers_5xx(tmp_path: Path) -> None:
    with consolidator(tmp_path / "fuzz.sqlite", max_body_bytes=2048) as c:
        seen: set[int] = set()

        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(body=bodies, ctype=st.sampled_from(["application/json",
                                                   "application/json; charset=utf-8",
                                                   "text/plain", ""]))
        def post(body: bytes, ctype: str) -> None:
            headers = {"Content-Type": ctype} if ctype else {}
            status, _, raw = request(c.url, "POST", "/webhook/alerts", body, headers)
            seen.add(status)
            assert status in (200, 400, 413, 415), (status, raw)
            if status != 200:
                assert json.loads(raw)["error"]

        post()
        assert request(c.url, "GET", "/health")[0] == 200
        assert {400, 415} <= seen  # the fuzz reached the refusals, not only the happy path
