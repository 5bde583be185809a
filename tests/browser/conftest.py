"""Browser tests of the customer pages (the browser itself is a root fixture)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def live_server(app_factory) -> Iterator[tuple[str, object]]:
    """The app served over real HTTP on a free port; yields ``(base_url, app)``."""
    holder: dict = {}
    server = make_server("127.0.0.1", 0, _Lazy(holder), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = app_factory(PORTAL_BASE_URL=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, holder["app"]
    server.shutdown()
    server.server_close()
    thread.join(5)


class _Lazy:
    # The app needs the server's port in its config, and the server needs an app: bind late.
    def __init__(self, holder: dict) -> None:
        self.holder = holder

    def __call__(self, environ, start_response):
        return self.holder["app"](environ, start_response)
