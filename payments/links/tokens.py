"""Pay links: capability URLs for one invoice (``/i/<token>``) or one customer's statement
(``/s/<token>``).

A token is ``HMAC-SHA256(link_key, nonce)`` with a fresh 32-byte random nonce, written as 43
base64url characters. The database keeps the nonce and the token's SHA-256: lookups go by the
hash, and the token can be shown again (API responses, the console's "copy link") by whoever holds
the link key, while a copy of the database alone yields no working link. The link key is separate
from the session secret, so rotating one does not kill the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.links.models import PayLink

NONCE_BYTES = 32
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class LinkKey:
    """The server-side secret that turns stored nonces into working tokens."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("the link key must be at least 32 bytes")

    def token(self, nonce: bytes) -> str:
        """The token for a stored nonce (43 url-safe characters, 256 bits)."""
        digest = hmac.new(self.key, nonce, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> bytes:
    """SHA-256 of a token: the only form in which tokens are looked up."""
    return hashlib.sha256(token.encode("ascii")).digest()


def well_formed(token: str) -> bool:
    """Cheap shape check, so malformed tokens are refused without touching the database."""
    return TOKEN_RE.fullmatch(token) is not None


def issue(
    session: Session,
    key: LinkKey,
    *,
    invoice_id: int | None = None,
    customer_id: int | None = None,
    ttl: timedelta | None = None,
) -> tuple[PayLink, str]:
    """Revoke the target's active link (if any) and create a new one; return it and its token."""
    if (invoice_id is None) == (customer_id is None):
        raise ValueError("a link targets exactly one invoice or one customer")
    now = utcnow()
    revoke_active(session, invoice_id=invoice_id, customer_id=customer_id, now=now)
    nonce = secrets.token_bytes(NONCE_BYTES)
    token = key.token(nonce)
    link = PayLink(
        scope="invoice" if invoice_id is not None else "statement",
        invoice_id=invoice_id,
        customer_id=customer_id,
        nonce=nonce,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    session.add(link)
    session.flush()
    return link, token


def revoke_active(
    session: Session,
    *,
    invoice_id: int | None = None,
    customer_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Revoke the active link of an invoice or a customer's statement; no-op if there is none."""
    target = (PayLink.invoice_id == invoice_id if invoice_id is not None
              else PayLink.customer_id == customer_id)
    session.execute(
        update(PayLink)
        .where(target, PayLink.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


def active(
    session: Session, *, invoice_id: int | None = None, customer_id: int | None = None
) -> PayLink | None:
    """The target's current (unrevoked) link, expired or not."""
    target = (PayLink.invoice_id == invoice_id if invoice_id is not None
              else PayLink.customer_id == customer_id)
    return session.scalar(select(PayLink).where(target, PayLink.revoked_at.is_(None)))


def is_expired(link: PayLink, now: datetime | None = None) -> bool:
    """True once the link's expiry has passed (links without expiry never expire)."""
    return link.expires_at is not None and link.expires_at <= (now or utcnow())


def renewed_since_expiry(session: Session, token: str, scope: str) -> PayLink | None:
    """The live link that replaced ``token``'s link after that one had expired, or None.

    This is a customer pressing "email me a fresh link" a second time (a double click, a
    reload, the back button): the first press revoked the expired link while issuing the new
    one, in the same instant. Links revoked any other way (rotated while live, revoked by
    staff) give None, so they keep the one 404 every dead token gets.
    """
    if not well_formed(token):
        return None
    old = session.scalar(select(PayLink).where(PayLink.token_hash == token_hash(token),
                                               PayLink.scope == scope))
    if (old is None or old.revoked_at is None or old.expires_at is None
            or old.expires_at > old.revoked_at):
        return None
    target = ({"invoice_id": old.invoice_id} if old.invoice_id is not None
              else {"customer_id": old.customer_id})
    current = active(session, **target)
    if current is None or current.created_at != old.revoked_at or is_expired(current):
        return None
    return current
