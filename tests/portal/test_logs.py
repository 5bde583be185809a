"""Pay-link tokens never reach a log: not the access log, not the error log, not even when a
token page fails halfway and the error quotes the document it was rendering.

The servers are real: werkzeug's (``portal run``) in a thread, and gunicorn with the project's
``gunicorn.conf.py`` in a subprocess, as production runs it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server

from portal import logs, pdf
from tests.conftest import LINK_KEY, Api, path_of, token_of
from tests.paths import ROOT


def secrets_of(*urls: str) -> list[str]:
    """What must not be logged for these links: each token and the start of its SHA-256."""
    out = []
    for url in urls:
        token = token_of(url)
        out += [token, hashlib.sha256(token.encode()).hexdigest()[:10]]
    return out


def fetch(url: str, **headers: str) -> int:
    """GET ``url`` over real HTTP; return the status code."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def broken_renderer(monkeypatch):
    """Make PDF rendering fail the way WeasyPrint errors do: quoting what it choked on."""
    def render(html: str) -> bytes:
        quoted = re.search(r"https?://[^\s<]+/i/[\w-]+", html).group(0)
        raise RuntimeError(f"layout failed near {quoted!r}")

    monkeypatch.setattr(pdf, "render_pdf", render)


def test_the_redaction_covers_both_kinds_of_link_in_any_text():
    token = "x" * 43
    line = f'GET /i/{token}/pdf?a=1 HTTP/1.1" 200 "https://p.test/s/{token}" /i/short'
    assert logs.redact(line) == ('GET /i/[redacted]/pdf?a=1 HTTP/1.1" 200 '
                                 '"https://p.test/s/[redacted]" /i/short')


def test_an_error_inside_a_token_page_is_logged_without_the_token(app_factory, api_key, caplog,
                                                                  broken_renderer):
    client = app_factory(PROPAGATE_EXCEPTIONS=False).test_client()
    inv = Api(client, api_key).create()
    with caplog.at_level(logging.INFO):
        response = client.get(path_of(inv["pdf_url"]))
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert "Exception on /i/[redacted]/pdf [GET]" in caplog.text
    assert "layout failed near 'https://portal.test/i/[redacted]'" in caplog.text
    assert "RuntimeError" in caplog.text  # the traceback itself is kept for the operator
    for secret in secrets_of(inv["pay_url"]):
        assert secret not in caplog.text


def test_werkzeugs_access_and_error_logs_carry_no_token(app_factory, api_key, caplog,
                                                        broken_renderer):
    app = app_factory(PROPAGATE_EXCEPTIONS=False)
    inv = Api(app.test_client(), api_key).create()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    pay, statement = path_of(inv["pay_url"]), path_of(inv["customer"]["statement_url"])
    try:
        with caplog.at_level(logging.INFO):
            codes = [fetch(base + pay), fetch(base + statement), fetch(base + pay + "/qr.svg"),
                     fetch(base + pay + "/pdf"), fetch(f"{base}/i/{'A' * 43}")]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert codes == [200, 200, 200, 500, 404]
    # werkzeug colours error lines on a terminal: compare without the colour codes.
    access = [re.sub(r"\x1b\[[\d;]*m", "", r.getMessage())
              for r in caplog.records if r.name == "werkzeug"]
    assert sum('"GET /i/[redacted]' in line for line in access) == 4
    assert sum('"GET /s/[redacted] HTTP/1.1" 200' in line for line in access) == 1
    assert "Exception on /i/[redacted]/pdf" in caplog.text
    for secret in secrets_of(inv["pay_url"], inv["customer"]["statement_url"]):
        assert secret not in caplog.text


# --- gunicorn, as production runs it -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not start listening")


@pytest.mark.slow
def test_gunicorn_access_and_error_logs_carry_no_token(api, database_url, tmp_path):
    inv = api.create()
    port = free_port()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # the PDF cache lives "under" a file: every PDF request fails
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_LINK_KEY": LINK_KEY,
           "PORTAL_SECRET_KEY": "gunicorn-test-secret", "PORTAL_BASE_URL": "https://portal.test",
           "PORTAL_PDF_CACHE_DIR": str(blocker / "cache"), "PORTAL_BIND": f"127.0.0.1:{port}",
           "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "WEB_CONCURRENCY": "1"}
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--access-logfile", str(access),
         "--error-logfile", str(errors)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(port, process)
        base = f"http://127.0.0.1:{port}"
        referer = inv["customer"]["statement_url"]  # e.g. a proxy that keeps the Referer
        codes = [fetch(base + path_of(inv["pay_url"]), Referer=referer),
                 fetch(base + path_of(inv["pdf_url"]), Referer=inv["pay_url"]),
                 fetch(base + path_of(referer))]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert codes == [200, 500, 200]
    logged = access.read_text() + errors.read_text() + output.decode()
    assert '"GET /i/[redacted] HTTP/1.1" 200' in logged
    assert '"GET /i/[redacted]/pdf HTTP/1.1" 500' in logged
    assert '"https://portal.test/s/[redacted]"' in logged  # the Referer atom
    assert "Exception on /i/[redacted]/pdf [GET]" in logged
    for secret in secrets_of(inv["pay_url"], referer):
        assert secret not in logged
