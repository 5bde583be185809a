import hashlib
import secrets

import pytest
from sqlalchemy import select

from payments.links import tokens
from payments.links.models import PayLink
from tests.conftest import LINK_KEY, path_of, token_of


def test_tokens_are_256_bit_url_safe_and_derived_from_the_nonce():
    key = tokens.LinkKey(LINK_KEY.encode())
    nonce = secrets.token_bytes(32)
    token = key.token(nonce)
    assert tokens.well_formed(token) and len(token) == 43
    assert key.token(nonce) == token  # re-derivable: the console can show it again
    assert tokens.LinkKey(b"another-key-0123456789abcdef0123").token(nonce) != token
    assert tokens.token_hash(token) == hashlib.sha256(token.encode()).digest()


def test_link_key_must_be_long():
    with pytest.raises(ValueError):
        tokens.LinkKey(b"short")


@pytest.mark.parametrize("bad", ["", "a" * 42, "a" * 44, "a" * 42 + "!", "../" * 15])
def test_malformed_tokens_are_refused_without_a_lookup(bad):
    assert not tokens.well_formed(bad)


def test_database_holds_only_hash_and_nonce(api, db):
    inv = api.create()
    token = token_of(inv["pay_url"])
    with db.reader() as session:
        rows = session.scalars(select(PayLink)).all()
    assert rows, "invoice and statement links exist"
    for row in rows:
        stored = repr([getattr(row, c.key) for c in PayLink.__table__.columns])
        assert token not in stored
    assert any(r.token_hash == tokens.token_hash(token) for r in rows)


def test_rotating_kills_the_old_link_and_keeps_one_active(api, client, db):
    inv = api.create()
    old = path_of(inv["pay_url"])
    new = api.post(f"/invoices/{inv['id']}/link").get_json()
    assert client.get(old).status_code == 404
    assert client.get(path_of(new["pay_url"])).status_code == 200
    with db.reader() as session:
        active = session.scalars(select(PayLink).where(PayLink.invoice_id == inv["id"],
                                                       PayLink.revoked_at.is_(None))).all()
    assert len(active) == 1


def test_a_new_link_key_does_not_break_issued_links(api, app_factory):
    # Lookups go by the token's hash, so a link already in a customer's hands keeps working
    # even if the key that derived it is replaced (only re-showing stored links needs the key).
    inv = api.create()
    other = app_factory(PORTAL_LINK_KEY="a-completely-different-link-key-0123456789")
    assert other.test_client().get(path_of(inv["pay_url"])).status_code == 200
