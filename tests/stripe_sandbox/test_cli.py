"""``sandbox_command``: options, the printed webhook secret, the server it starts."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from stripe_sandbox import cli


class FakeServer:
    def __init__(self, host: str, port: int, app: Any, threaded: bool) -> None:
        self.address = (host, port)
        self.app = app
        assert threaded

    def serve_forever(self) -> None:
        raise KeyboardInterrupt


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[FakeServer]:
    servers: list[FakeServer] = []

    def make_server(*args: Any, **kwargs: Any) -> FakeServer:
        servers.append(FakeServer(*args, **kwargs))
        return servers[-1]

    monkeypatch.setattr(cli, "make_server", make_server)
    return servers


def test_defaults(started: list[FakeServer]) -> None:
    result = CliRunner().invoke(cli.sandbox_command, [])
    assert result.exit_code == 0, result.output
    assert started[0].address == ("127.0.0.1", 12111)
    assert "STRIPE_API_BASE=http://127.0.0.1:12111" in result.output


def test_webhook_registration_prints_secret(started: list[FakeServer]) -> None:
    result = CliRunner().invoke(cli.sandbox_command, [
        "--port", "12999", "--webhook", "http://127.0.0.1:5000/stripe/webhook"])
    assert result.exit_code == 0, result.output
    assert "Signing secret: whsec_" in result.output
    chosen = CliRunner().invoke(cli.sandbox_command, [
        "--webhook", "http://127.0.0.1:5000/stripe/webhook", "--webhook-secret", "whsec_abc",
        "--ach-settle-after", "2"])
    assert "Signing secret: whsec_abc" in chosen.output
    assert started[-1].app.config["SANDBOX_ACH_SETTLE_AFTER"] == 2.0


def test_bad_options(started: list[FakeServer]) -> None:
    assert CliRunner().invoke(cli.sandbox_command, ["--webhook-secret", "whsec_x"]).exit_code == 2
    result = CliRunner().invoke(cli.sandbox_command, ["--webhook", "http://x.test",
                                                      "--webhook-secret", "abc"])
    assert result.exit_code == 2 and started == []
