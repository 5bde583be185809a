"""The API fuzzed from its own OpenAPI document (schemathesis, against the app served over
HTTP): whatever a client sends, no 5xx, and every answer, errors included, is what the
document says: its status codes, content types and schemas (the error envelope for every 4xx).

Slow (it runs thousands of requests): ``-m slow`` selects it, and CI runs it.
"""

from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode
from werkzeug.serving import make_server

from tests.conftest import Api
from tests.portal.api.test_disputes_api import seed_disputes

pytestmark = pytest.mark.slow


@pytest.fixture
def served(app, api_key, db, tmp_path):
    """The app on a local port, with an invoice, disputes and a credit note in it; yields its
    base URL."""
    api = Api(app.test_client(), api_key)
    api.create()
    seed_disputes(api, db, tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


EXAMPLES = 100  # per operation and mode: about 1,500 requests in all
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_5xx_or_an_undocumented_answer(served, api_key, mode):
    # Positive: requests the document allows; negative: ones it forbids (wrong types, missing
    # fields, out-of-range values), which must get a documented 4xx in the error envelope.
    schema = schemathesis.openapi.from_url(f"{served}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11  # every operation of the document, not a lucky few
    auth = {"Authorization": f"Bearer {api_key}"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        fuzz()
