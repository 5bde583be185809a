"""API keys: ``arp_`` + 43 random url-safe characters; only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
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
    """The live key matching ``plaintext``, or None. Records when it was last used (per minute)."""
    key = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == _hash(plaintext), ApiKey.revoked_at.is_(None))
    )
    if key is not None:
        now = utcnow()
        # Only write once a minute: an integration posting thousands of invoices should not
        # turn every request into a write on the keys table.
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            key.last_used_at = now
    return key
