"""API keys: ``arp_`` + 43 random url-safe characters; only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.models import ApiKey, utcnow

PREFIX = "arp_"


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def create(session: Session, name: str) -> tuple[ApiKey, str]:
    """Create a key named ``name``; the plaintext is returned once and never stored."""
    if not name.strip():
        raise ValueError("an API key needs a name")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), prefix=plaintext[:12], key_hash=_hash(plaintext))
    session.add(key)
    session.flush()
    return key, plaintext


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
