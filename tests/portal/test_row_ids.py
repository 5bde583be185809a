"""Row ids in URLs: anything a 32-bit primary key cannot hold is a 404 at routing, on every
route that takes one (as a plain int it reached PostgreSQL, failed to bind, and answered 500)."""

from __future__ import annotations

import pytest

from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

TOO_BIG = str(2**31)


def _id_rules(app, prefix: str):
    return [rule for rule in app.url_map.iter_rules()
            if rule.rule.startswith(prefix) and "_id>" in rule.rule]


def test_every_id_route_uses_the_row_id_converter(app):
    rules = _id_rules(app, "/staff") + _id_rules(app, "/api/v1")
    assert rules, "no routes with ids found"
    for rule in rules:
        assert "<id:" in rule.rule, f"{rule.rule} takes an unchecked id"


def test_an_id_beyond_32_bits_is_a_404_not_a_500(app, db, api_key):
    make_staff(db, "admin@example.com", "admin")
    staff = logged_in(app, "admin@example.com")
    for rule in _id_rules(app, "/staff"):
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<id:{arg}>", TOO_BIG)
        response = post(staff, path) if "POST" in rule.methods else staff.get(path)
        assert response.status_code == 404, (path, response.status_code)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    assert api.get(f"/api/v1/invoices/{TOO_BIG}", headers=headers).status_code == 404
    assert api.post(f"/api/v1/invoices/{TOO_BIG}/void", headers=headers).status_code == 404
