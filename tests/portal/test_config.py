"""Configuration as an operator sets it: the environment, ``instance/config.py``, the refusal to
start without secrets, and rate-limit counters shared through Redis."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from payments.staff import api_keys
from portal import create_app
from portal.config import ConfigError
from tests.conftest import LINK_KEY, Api, app_config, path_of
from tests.paths import ROOT

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UNKNOWN = "/i/" + "A" * 43  # a well-formed token that was never issued


@pytest.fixture
def instance(monkeypatch, tmp_path) -> Path:
    """A shell with no portal settings at all; returns its own (empty) instance folder."""
    for name in list(os.environ):
        if name.startswith(("PORTAL_", "STRIPE_", "FLASK_")):
            monkeypatch.delenv(name)
    path = tmp_path / "instance"
    path.mkdir()
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(path))
    return path


@pytest.fixture
def env(monkeypatch, instance):
    """``monkeypatch`` in that clean shell."""
    return monkeypatch


@pytest.fixture
def start():
    """``create_app`` that closes what it built at teardown."""
    made = []

    def build(config=None):
        made.append(create_app(config))
        return made[-1]

    yield build
    for app in made:
        app.extensions["portal.db"].dispose()


def with_secrets(env) -> None:
    env.setenv("PORTAL_SECRET_KEY", "operator-secret")
    env.setenv("PORTAL_LINK_KEY", LINK_KEY)


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("given,missing", [
    ({}, "PORTAL_SECRET_KEY and PORTAL_LINK_KEY not set"),
    ({"PORTAL_LINK_KEY": LINK_KEY}, "PORTAL_SECRET_KEY not set"),
    ({"PORTAL_SECRET_KEY": "operator-secret"}, "PORTAL_LINK_KEY not set"),
])
def test_refuses_to_start_without_secrets_in_one_line(env, given, missing):
    for name, value in given.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as failure:
        create_app()
    message = str(failure.value)
    assert message.startswith(missing + ": export a long random value")
    assert "\n" not in message and "portal demo" in message


def test_a_short_link_key_is_refused(env):
    env.setenv("PORTAL_SECRET_KEY", "operator-secret")
    env.setenv("PORTAL_LINK_KEY", "too-short")
    with pytest.raises(ConfigError, match="PORTAL_LINK_KEY is too short: use at least 32"):
        create_app()


@pytest.mark.parametrize("mode", ["PORTAL_DEMO", "FLASK_DEBUG"])
def test_demo_and_debug_start_with_keys_kept_in_the_instance_folder(env, instance, start, mode):
    env.setenv(mode, "1")
    first = start()
    kept = instance / "dev-secrets.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    keys = json.loads(kept.read_text())
    assert first.config["PORTAL_SECRET_KEY"] == keys["PORTAL_SECRET_KEY"]
    assert first.config["PORTAL_LINK_KEY"] == keys["PORTAL_LINK_KEY"] != keys["PORTAL_SECRET_KEY"]
    again = start()  # links printed yesterday still work today
    assert again.config["PORTAL_LINK_KEY"] == first.config["PORTAL_LINK_KEY"]


# --- where settings come from --------------------------------------------------------------------


def test_settings_are_read_from_the_environment(env, start, database_url):
    with_secrets(env)
    for name, value in {
        "PORTAL_DATABASE_URL": database_url, "PORTAL_BASE_URL": "https://pay.example.com",
        "PORTAL_LINK_TTL_DAYS": "0", "PORTAL_PROXY_COUNT": "1", "PORTAL_BANK_TRANSFERS": "yes",
        "PORTAL_BUSINESS_NAME": "Acme Env Ltd", "STRIPE_SECRET_KEY": "sk_test_env",
        "STRIPE_API_BASE": "http://127.0.0.1:12111", "STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b",
    }.items():
        env.setenv(name, value)
    app = start()
    assert app.config["PORTAL_DATABASE_URL"] == database_url
    assert (app.config["PORTAL_PROXY_COUNT"], app.config["PORTAL_BANK_TRANSFERS"]) == (1, True)
    assert app.extensions["portal.webhook_secrets"] == ["whsec_a", "whsec_b"]
    assert "form-action 'self' http://127.0.0.1:12111" in app.extensions["portal.csp"]

    client = app.test_client()
    with app.extensions["portal.db"].transaction() as session:
        _key, plaintext = api_keys.create(session, "env")
    invoice = Api(client, plaintext).create()
    assert invoice["pay_url"].startswith("https://pay.example.com/i/")
    assert invoice["pay_url_expires_at"] is None  # PORTAL_LINK_TTL_DAYS=0: never
    page = client.get(path_of(invoice["pay_url"])).get_data(as_text=True)
    assert "Acme Env Ltd" in page


def test_defaults_keep_runtime_files_in_the_instance_folder(env, instance, start):
    with_secrets(env)
    app = start()
    assert app.config["PORTAL_DATABASE_URL"] == f"sqlite:///{instance / 'portal.db'}"
    assert app.config["PORTAL_PDF_CACHE_DIR"] == str(instance / "pdf-cache")
    assert app.config["PORTAL_BASE_URL"] == "http://127.0.0.1:5000"
    assert app.config["PORTAL_TOKEN_RATE_LIMIT"] == "30 per minute"
    assert "portal.stripe" not in app.extensions  # no STRIPE_SECRET_KEY: no pay button


def test_instance_config_file_is_read_and_the_environment_wins(env, instance, start,
                                                              database_url):
    (instance / "config.py").write_text(
        "PORTAL_SECRET_KEY = 'file-secret'\n"
        f"PORTAL_LINK_KEY = {LINK_KEY!r}\n"
        f"PORTAL_DATABASE_URL = {database_url!r}\n"
        "PORTAL_BASE_URL = 'https://from-file.example'\n"
        "PORTAL_BUSINESS_NAME = 'File Supplies'\n"
        "PORTAL_LINK_TTL_DAYS = 7\n"
        "helper_value = 'not a setting'\n")
    app = start()
    assert app.config["SECRET_KEY"] == "file-secret"  # the file alone satisfies the check
    assert app.config["PORTAL_BASE_URL"] == "https://from-file.example"
    assert app.config["PORTAL_LINK_TTL_DAYS"] == 7
    assert "helper_value" not in app.config

    env.setenv("PORTAL_BASE_URL", "https://from-env.example")
    env.setenv("PORTAL_LINK_TTL_DAYS", "30")
    app = start()
    assert app.config["PORTAL_BASE_URL"] == "https://from-env.example"
    assert app.config["PORTAL_LINK_TTL_DAYS"] == 30
    assert app.config["PORTAL_BUSINESS_NAME"] == "File Supplies"  # not in the env: file's value

    app = start({"PORTAL_BASE_URL": "https://override.example"})  # create_app(config) wins
    assert app.config["PORTAL_BASE_URL"] == "https://override.example"


# --- invalid values ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PORTAL_LINK_TTL_DAYS", "PORTAL_PROXY_COUNT"])
def test_a_non_integer_setting_is_a_config_error_naming_it(env, name):
    with_secrets(env)
    env.setenv(name, "30d")
    with pytest.raises(ConfigError, match=name):
        create_app()


def test_a_malformed_rate_limit_is_refused_at_start(env, start):
    with_secrets(env)
    env.setenv("PORTAL_TOKEN_RATE_LIMIT", "30 per minut")
    with pytest.raises(ConfigError, match="PORTAL_TOKEN_RATE_LIMIT"):
        start()


def test_a_base_url_without_scheme_is_refused_at_start(env, start):
    with_secrets(env)
    env.setenv("PORTAL_BASE_URL", "pay.example.com")
    with pytest.raises(ConfigError, match="PORTAL_BASE_URL"):
        start()


# --- rate limits ---------------------------------------------------------------------------------


def test_the_token_rate_limit_setting_is_enforced(app_factory):
    client = app_factory(PORTAL_TOKEN_RATE_LIMIT="3 per hour").test_client()
    assert [client.get(UNKNOWN).status_code for _ in range(4)] == [404, 404, 404, 429]
    other = {"REMOTE_ADDR": "192.0.2.7"}  # counted per client address
    assert client.get(UNKNOWN, environ_base=other).status_code == 404


def test_a_valid_link_is_never_limited(app_factory, api_key):
    app = app_factory(PORTAL_TOKEN_RATE_LIMIT="3 per hour")
    client = app.test_client()
    invoice = Api(client, api_key).create()
    for _ in range(4):
        client.get(UNKNOWN)
    assert client.get(path_of(invoice["pay_url"])).status_code == 200


LOOKUPS = """
import json, sys
from portal import create_app
app = create_app(json.loads(sys.argv[1]))
client = app.test_client()
codes = [client.get(sys.argv[2], environ_base={"REMOTE_ADDR": sys.argv[3]}).status_code
         for _ in range(int(sys.argv[4]))]
app.extensions["portal.db"].dispose()
print(json.dumps(codes))
"""


@pytest.fixture
def redis_address():
    """A client address no one else uses in Redis; its counters are deleted afterwards."""
    try:
        server = redis.Redis.from_url(REDIS_URL)
        server.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    address = f"10.{uuid.uuid4().int % 250}.{os.getpid() % 250}.{uuid.uuid4().int % 250}"
    yield address
    for key in server.scan_iter(match=f"*{address}*"):
        server.delete(key)
    server.close()


def lookups_in_another_worker(config: dict, address: str, count: int) -> list[int]:
    """Bad-token lookups from ``address`` made by a separate process running its own app."""
    done = subprocess.run([sys.executable, "-c", LOOKUPS, json.dumps(config), UNKNOWN, address,
                           str(count)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory"])
def test_redis_shares_the_bad_lookup_count_between_workers(database_url, tmp_path,
                                                           redis_address, start, shared):
    extra = {"PORTAL_TOKEN_RATE_LIMIT": "3 per hour"}
    if shared:
        extra["PORTAL_REDIS_URL"] = REDIS_URL
    config = app_config(database_url, tmp_path, **extra)
    here = start(config).test_client()
    address = {"REMOTE_ADDR": redis_address}
    assert [here.get(UNKNOWN, environ_base=address).status_code for _ in range(2)] == [404, 404]
    there = lookups_in_another_worker(config, redis_address, 2)
    # With Redis the other worker sees the two misses made here; in memory, it starts afresh.
    assert there == ([404, 429] if shared else [404, 404])
    assert here.get(UNKNOWN, environ_base=address).status_code == (429 if shared else 404)


def test_the_write_off_limit_is_one_amount_or_one_per_currency(env, start):
    with_secrets(env)
    env.setenv("PORTAL_WRITE_OFF_MAX", "250")
    assert start().config["PORTAL_WRITE_OFF_MAX"] == 250
    env.setenv("PORTAL_WRITE_OFF_MAX", '{"usd": 500, "JPY": 700}')
    assert start().config["PORTAL_WRITE_OFF_MAX"] == {"USD": 500, "JPY": 700}
    for bad in ("5.00", "-1", '{"USD": "lots"}', "{oops"):
        env.setenv("PORTAL_WRITE_OFF_MAX", bad)
        with pytest.raises(ConfigError, match="PORTAL_WRITE_OFF_MAX"):
            start()
