"""Configuration: defaults, then ``instance/config.py``, then the environment, then overrides.

Every setting has the name of its environment variable. Outside demo, debug and testing the app
refuses to start without the two secrets, with one line saying what to set.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

ENV_PREFIXES = ("PORTAL_", "STRIPE_")

DEFAULTS: dict[str, Any] = {
    "PORTAL_DATABASE_URL": None,  # None: SQLite file in the instance folder
    "PORTAL_SECRET_KEY": None,
    "PORTAL_LINK_KEY": None,
    "PORTAL_BASE_URL": "http://127.0.0.1:5000",
    "PORTAL_REDIS_URL": None,
    "PORTAL_QUEUE_PATH": None,  # None: instance/tasks.db (the task queue, unless Redis)
    "PORTAL_TASKS_IMMEDIATE": False,  # run tasks as they are enqueued (tests)
    "PORTAL_SWEEP_GRACE_SECONDS": 30,  # an event's own task gets this long before the sweep
    "PORTAL_SMTP_URL": None,
    "PORTAL_MAIL_FROM": "billing@example.com",
    "PORTAL_BUSINESS_NAME": "AR Portal",
    "PORTAL_BUSINESS_ADDRESS": "",
    "PORTAL_SUPPORT_EMAIL": "",
    "PORTAL_LOGO_PATH": None,  # None: the bundled logo
    "PORTAL_LOCALE": "en_US",
    "PORTAL_LINK_TTL_DAYS": 180,
    "PORTAL_TOKEN_RATE_LIMIT": "30 per minute",
    "PORTAL_RENEW_RATE_LIMIT": "5 per hour",
    "PORTAL_PROXY_COUNT": 0,
    "PORTAL_SESSION_IDLE_MINUTES": 30,  # a console session ends this long after its last use
    "PORTAL_SESSION_MAX_HOURS": 12,  # … and this long after login, used or not
    "PORTAL_PDF_CACHE_DIR": None,  # None: instance/pdf-cache
    "PORTAL_ATTACHMENTS_DIR": None,  # None: instance/attachments (dispute files, staff only)
    "PORTAL_DISPUTE_RATE_LIMIT": "10 per hour",  # disputes and messages per client address
    "PORTAL_DEMO": False,
    "PORTAL_BANK_TRANSFERS": False,
    "PORTAL_WRITE_OFF_MAX": 500,  # minor units, or {"USD": 500, "JPY": 500, ...}
    "PORTAL_TIMEZONE": "UTC",  # customers' time zone unless their collections settings say
    "PORTAL_REMINDER_STALE_DAYS": 3,  # a reminder step missed by more days is skipped
    "PORTAL_REMINDERS": True,  # False: the reminder tick sends nothing (planning still shows)
    "PORTAL_TREND_WARN_DAYS": 5,  # days to pay worse by more: flagged on the dashboard
    "STRIPE_SECRET_KEY": None,
    "STRIPE_WEBHOOK_SECRET": None,
    "STRIPE_API_BASE": None,
}

_INTS = {"PORTAL_LINK_TTL_DAYS", "PORTAL_PROXY_COUNT", "PORTAL_SWEEP_GRACE_SECONDS",
         "PORTAL_SESSION_IDLE_MINUTES", "PORTAL_SESSION_MAX_HOURS",
         "PORTAL_REMINDER_STALE_DAYS", "PORTAL_TREND_WARN_DAYS"}
_BOOLS = {"PORTAL_DEMO", "PORTAL_BANK_TRANSFERS", "PORTAL_TASKS_IMMEDIATE", "PORTAL_REMINDERS"}


class ConfigError(RuntimeError):
    """The configuration cannot run; the message is one line saying what to set."""


def load(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config for ``create_app``: defaults < instance file < environment < overrides."""
    config = dict(DEFAULTS)
    config.update(_instance_file(Path(instance_path) / "config.py"))
    config.update(_environment())
    config.update(overrides or {})
    _validate(config)
    if not config["PORTAL_DATABASE_URL"]:
        config["PORTAL_DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'portal.db'}"
    if not config["PORTAL_PDF_CACHE_DIR"]:
        config["PORTAL_PDF_CACHE_DIR"] = str(Path(instance_path) / "pdf-cache")
    if not config["PORTAL_ATTACHMENTS_DIR"]:
        config["PORTAL_ATTACHMENTS_DIR"] = str(Path(instance_path) / "attachments")
    return config


def require_secrets(config: dict[str, Any], instance_path: str) -> None:
    """Fill in or insist on the secrets.

    Demo, debug and testing get keys generated once and kept in ``instance/dev-secrets.json`` (so
    links printed yesterday still work today). Anything else must be given both keys.
    """
    relaxed = config.get("PORTAL_DEMO") or config.get("DEBUG") or config.get("TESTING")
    missing = [k for k in ("PORTAL_SECRET_KEY", "PORTAL_LINK_KEY") if not config.get(k)]
    if missing and not relaxed:
        raise ConfigError(
            f"{' and '.join(missing)} not set: export a long random value for each "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or run `portal demo` to try AR Portal"
        )
    if missing:
        config.update({k: v for k, v in _dev_secrets(instance_path).items() if k in missing})
    if len(config["PORTAL_LINK_KEY"].encode()) < 32:
        raise ConfigError("PORTAL_LINK_KEY is too short: use at least 32 random characters")


def _dev_secrets(instance_path: str) -> dict[str, str]:
    path = Path(instance_path) / "dev-secrets.json"
    values = {k: secrets.token_urlsafe(48) for k in ("PORTAL_SECRET_KEY", "PORTAL_LINK_KEY")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    try:
        os.link(tmp, path)  # atomic create-if-absent: a concurrent starter's keys win
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return json.loads(path.read_text())


def _instance_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    namespace: dict[str, Any] = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 (operator's file)
    return {k: v for k, v in namespace.items() if k.startswith(ENV_PREFIXES)}


def _environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in DEFAULTS:
        raw = os.environ.get(name)
        if raw is None or raw == "":
            continue
        if name in _INTS:
            values[name] = raw  # checked, with the others, by _validate
        elif name in _BOOLS:
            values[name] = raw.lower() in ("1", "true", "yes", "on")
        else:
            values[name] = raw
    return values


def _validate(config: dict[str, Any]) -> None:
    # Refuse at start what would otherwise fail on the first request, or worse, run wrongly:
    # a rate limit with a typo is silently no limit, a base URL without a scheme yields pay
    # links that are not URLs.
    for name in _INTS:
        try:
            config[name] = int(config[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {config[name]!r}") from None
        if config[name] < 0:
            raise ConfigError(f"{name} must not be negative")
    for name in ("PORTAL_SESSION_IDLE_MINUTES", "PORTAL_SESSION_MAX_HOURS"):
        if config[name] < 1:
            raise ConfigError(f"{name} must be at least 1")
    for name in ("PORTAL_TOKEN_RATE_LIMIT", "PORTAL_RENEW_RATE_LIMIT",
                 "PORTAL_DISPUTE_RATE_LIMIT"):
        try:
            parse_many(config[name])
        except ValueError:
            raise ConfigError(f"{name} is not a rate limit like '30 per minute': "
                              f"{config[name]!r}") from None
    try:
        ZoneInfo(str(config["PORTAL_TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("PORTAL_TIMEZONE must be a time zone name like America/New_York, "
                          f"not {config['PORTAL_TIMEZONE']!r}") from None
    config["PORTAL_WRITE_OFF_MAX"] = _write_off_max(config["PORTAL_WRITE_OFF_MAX"])
    url = urlsplit(config["PORTAL_BASE_URL"] or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError("PORTAL_BASE_URL must be an http:// or https:// URL like "
                          f"https://pay.example.com, not {config['PORTAL_BASE_URL']!r}")


def _write_off_max(value: Any) -> int | dict[str, int]:
    # One amount in minor units for every currency, or a per-currency mapping (500 cents is
    # $5, but 500 yen is much less): from the environment as an integer or a JSON object.
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError("PORTAL_WRITE_OFF_MAX is not valid JSON") from None
    try:
        if isinstance(value, dict):
            limits = {str(code).upper(): int(amount) for code, amount in value.items()}
        else:
            limits = {"*": int(value)}
    except (TypeError, ValueError):
        raise ConfigError("PORTAL_WRITE_OFF_MAX must be whole minor units, like 500, or a "
                          'mapping like {"USD": 500}') from None
    if any(amount < 0 for amount in limits.values()):
        raise ConfigError("PORTAL_WRITE_OFF_MAX must not be negative")
    return limits.pop("*") if "*" in limits else limits
