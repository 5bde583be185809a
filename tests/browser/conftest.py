"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded browser).

Screenshots of every step are kept in ``test-artifacts/`` for people to look at.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run scripts/system-deps (make test does)")
    return path


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                      args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


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
    thread.join(5)


class _Lazy:
    # The app needs the server's port in its config, and the server needs an app: bind late.
    def __init__(self, holder: dict) -> None:
        self.holder = holder

    def __call__(self, environ, start_response):
        return self.holder["app"](environ, start_response)


@pytest.fixture
def shot(request):
    """``shot(page, "step")`` saves a screenshot under test-artifacts/<test name>/."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, step: str) -> Path:
        path = folder / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
