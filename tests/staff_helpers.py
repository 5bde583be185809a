"""Shared by the staff console tests: cheap password hashing, staff users, CSRF-aware login."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher, profiles

from payments.staff import accounts, audit

PASSWORD = "correct horse battery staple"
CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture
def cheap_hashing():
    """Argon2 with the cheapest parameters: the tests hash hundreds of passwords."""
    previous = accounts.use_hasher(CHEAP)
    yield CHEAP
    accounts.use_hasher(previous)


def make_staff(db, email: str, role: str = "admin", password: str = PASSWORD) -> int:
    """Create a staff user (as the CLI would) and return its id."""
    with db.transaction() as session:
        return accounts.add(session, audit.CLI, email, role, password).id


def csrf_token(client) -> str:
    """A CSRF token valid for ``client``'s session, scraped from a console page."""
    page = client.get("/staff/")
    if page.status_code != 200:
        page = client.get("/staff/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def login(client, email: str, password: str = PASSWORD, ip: str = "192.0.2.10", **form):
    """POST the login form (with a CSRF token) from ``ip``; returns the response."""
    data = {"email": email, "password": password, "csrf_token": csrf_token(client), **form}
    return client.post("/staff/login", data=data, environ_base={"REMOTE_ADDR": ip})


def post(client, path: str, ip: str = "192.0.2.10", **form):
    """POST a console form with a CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **form},
                       environ_base={"REMOTE_ADDR": ip})


def logged_in(app, email: str, password: str = PASSWORD):
    """A fresh test client of ``app`` logged in as ``email``."""
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
