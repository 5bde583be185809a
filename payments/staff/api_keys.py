"""API keys: ``arp_`` + 43 random url-safe characters; only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.staff import audit
from payments.staff.models import ApiKey

PREFIX = "arp_"


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def create(session: Session, name: str, actor: audit.Actor | None = None
           ) -> tuple[ApiKey, str]:
    """Create a key named ``name``; the plaintext is returned once and never stored.

    With an ``actor`` (the console, the CLI) the creation is audited; the entry holds the
    name and the public prefix, never the key.
    """
    if not name.strip():
        raise ValueError("an API key needs a name")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), prefix=plaintext[:12], key_hash=_hash(plaintext))
    session.add(key)
    session.flush()
    if actor is not None:
        audit.record(session, actor, "apikey.create", ("api_key", key.id), None,
                     {"name": key.name, "prefix": key.prefix})
    return key, plaintext


def list_keys(session: Session) -> Sequence[ApiKey]:
    """Every key, live ones first, newest first."""
    return session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None),
                                                   ApiKey.id.desc())).all()


def revoke(session: Session, actor: audit.Actor, key_id: int) -> ApiKey | None:
    """Revoke a key at once (audited); None when there is no such key. Revoking twice is a
    no-op that keeps the first time."""
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None or key.revoked_at is not None:
        return key
    key.revoked_at = utcnow()
    audit.record(session, actor, "apikey.revoke", ("api_key", key.id),
                 {"name": key.name, "revoked_at": None},
                 {"name": key.name, "revoked_at": key.revoked_at.isoformat()})
    return key


def authenticate(session: Session, plaintext: str) -> ApiKey | None:
    """The live key matching ``plaintext``, or None (a read; see :func:`touch`)."""
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == _hash(plaintext), ApiKey.revoked_at.is_(None))
    )


def needs_touch(key: ApiKey) -> bool:
    """True when ``last_used_at`` is over a minute old.

    Recording use at most once a minute keeps an integration that posts thousands of invoices
    from turning every request, reads included, into a write on the keys table.
    """
    return key.last_used_at is None or utcnow() - key.last_used_at > timedelta(minutes=1)


def touch(session: Session, key_id: int) -> None:
    """Record that the key was just used."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
