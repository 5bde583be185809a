"""Staff login: generic failures, throttling that cannot lock a real user out, fresh sessions
kept on the server (a copied cookie dies with sign-out; idle and absolute timeouts; across
instances), logout, sign out everywhere, deactivation, cookie flags, CSRF, password
rehashing."""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.staff import accounts, throttle
from payments.staff.models import StaffSession, StaffUser
from portal import tasks
from portal.staff.auth import THROTTLED, WRONG
from tests.staff_helpers import PASSWORD, csrf_token, logged_in, login, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

ALICE = "alice@acme.example"
ATTACKER_IP, ALICE_IP = "203.0.113.66", "198.51.100.7"


@pytest.fixture
def alice(db) -> int:
    return make_staff(db, ALICE, "clerk")


def session_rows(db) -> list[StaffSession]:
    """Every console session on the server."""
    with db.reader() as session:
        return list(session.scalars(select(StaffSession).order_by(StaffSession.id)))


def age(db, last_seen: timedelta | None = None, created: timedelta | None = None) -> None:
    """Make every session as if last used ``last_seen`` ago, or begun ``created`` ago."""
    values = {}
    if last_seen is not None:
        values["last_seen_at"] = utcnow() - last_seen
    if created is not None:
        values["created_at"] = utcnow() - created
    with db.transaction() as session:
        session.execute(update(StaffSession).values(**values))


def test_login_starts_a_session_and_lands_on_the_dashboard(client, alice):
    response = login(client, "Alice@ACME.example ", PASSWORD)  # any case, stray space
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200 and ALICE in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_wrong_email_and_wrong_password_look_the_same(app, db, alice):
    make_staff(db, "gone@acme.example", "viewer")
    with db.transaction() as session:
        accounts.deactivate(session, accounts.audit.CLI, accounts.by_email(session,
                                                                           "gone@acme.example").id)
    answers = [login(app.test_client(), email, password) for email, password in
               [(ALICE, "wrong password!!"), ("nobody@acme.example", PASSWORD),
                ("gone@acme.example", PASSWORD)]]
    for response, email in zip(answers, [ALICE, "nobody@acme.example", "gone@acme.example"],
                               strict=True):
        assert response.status_code == 401
        body = response.get_data(as_text=True)
        assert WRONG in body
        assert _normal(body, email) == _normal(answers[0].get_data(as_text=True), ALICE)


def _normal(body: str, email: str) -> str:
    # The page echoes the email typed and carries a fresh CSRF token; nothing else may differ.
    return re.sub(r'name="csrf_token" value="[^"]+"', "", body.replace(email, "EMAIL"))


def test_an_unknown_email_takes_as_long_as_a_wrong_password(db):
    # The real Argon2 parameters: without the dummy hash an unknown email would answer in
    # microseconds instead of tens of milliseconds.
    previous = accounts.use_hasher(PasswordHasher())
    try:
        make_staff(db, ALICE, "viewer")

        def timed(email: str) -> float:
            runs = []
            for _ in range(3):
                with db.reader() as session:
                    start = time.perf_counter()
                    assert accounts.authenticate(session, email, "not the password") is None
                    runs.append(time.perf_counter() - start)
            return statistics.median(runs)

        known, unknown = timed(ALICE), timed("nobody@acme.example")
    finally:
        accounts.use_hasher(previous)
    assert unknown > known * 0.3, (known, unknown)


def test_a_guesser_is_throttled_per_account_and_address_but_the_user_still_gets_in(app, alice):
    attacker = app.test_client()
    for _ in range(5):
        assert login(attacker, ALICE, "guess guess guess", ip=ATTACKER_IP).status_code == 401
    throttled = login(attacker, ALICE, PASSWORD, ip=ATTACKER_IP)  # even the right password
    assert throttled.status_code == 429 and THROTTLED in throttled.get_data(as_text=True)
    # The attacker cannot lock Alice out: from her own address she logs in at once.
    assert login(app.test_client(), ALICE, PASSWORD, ip=ALICE_IP).status_code == 302
    # And the attacker can still try other accounts from that address (the per-IP budget).
    assert login(attacker, "bob@acme.example", "guess", ip=ATTACKER_IP).status_code == 401


def test_an_address_spraying_many_accounts_is_throttled_per_address(app_factory, db):
    app = app_factory(STAFF_LOGIN_BUDGET=throttle.Budget(per_account_ip=5, per_ip=8))
    make_staff(db, ALICE, "viewer")
    attacker = app.test_client()
    for n in range(8):
        assert login(attacker, f"user{n}@acme.example", "guess", ip=ATTACKER_IP).status_code == 401
    assert login(attacker, "user99@acme.example", "guess", ip=ATTACKER_IP).status_code == 429
    assert login(attacker, ALICE, PASSWORD, ip=ATTACKER_IP).status_code == 429
    assert login(app.test_client(), ALICE, PASSWORD, ip=ALICE_IP).status_code == 302


def test_a_success_forgives_earlier_typos(app, alice):
    client = app.test_client()
    for _ in range(4):
        assert login(client, ALICE, "typo typo typo", ip=ALICE_IP).status_code == 401
    assert login(client, ALICE, PASSWORD, ip=ALICE_IP).status_code == 302
    other = app.test_client()
    for _ in range(5):
        assert login(other, ALICE, "typo typo typo", ip=ALICE_IP).status_code == 401
    assert login(other, ALICE, PASSWORD, ip=ALICE_IP).status_code == 429


def test_the_budget_comes_back_after_the_window_and_refusals_do_not_extend_it(db):
    budget = throttle.Budget(per_account_ip=2, per_ip=10, window=timedelta(minutes=15))
    start = utcnow()

    def attempt(minutes: int) -> bool:
        with db.transaction() as session:
            return throttle.begin(session, ALICE, ATTACKER_IP, budget,
                                        now=start + timedelta(minutes=minutes)).allowed

    assert attempt(0) and attempt(1)
    assert not attempt(2) and not attempt(10)  # refused while two failures are in the window
    assert attempt(16)  # the first failure has left the window; refusals never counted


def test_login_gives_a_fresh_session(app, client, alice):
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    before = client.get_cookie("session").value
    login(client, ALICE)
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as s:
        # The cookie names a session by a random token, not the user (nor anything to replay).
        assert "planted" not in s and re.fullmatch(r"[A-Za-z0-9_-]{43}", s["_user_id"])


def test_session_cookie_flags(client, alice):
    response = login(client, ALICE)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Expires" not in cookie  # a browser-session cookie; no remember-me cookie either
    assert "remember_token" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_logout_ends_the_session(app, alice):
    client = logged_in(app, ALICE)
    assert post(client, "/staff/logout").status_code == 302
    response = client.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/login")


def test_sign_out_everywhere_ends_sessions_held_elsewhere(app, alice):
    laptop, phone = logged_in(app, ALICE), logged_in(app, ALICE)
    stolen = app.test_client()
    stolen.set_cookie("session", phone.get_cookie("session").value)
    assert stolen.get("/staff/").status_code == 200  # a copied cookie works... until:
    assert post(laptop, "/staff/logout-everywhere").status_code == 302
    for client in (laptop, phone, stolen):
        assert client.get("/staff/").status_code == 302
    assert logged_in(app, ALICE).get("/staff/").status_code == 200  # a new login works


def test_deactivation_ends_the_users_sessions_and_blocks_login(app, db, alice):
    make_staff(db, "admin@acme.example", "admin")
    admin, clerk = logged_in(app, "admin@acme.example"), logged_in(app, ALICE)
    assert post(admin, f"/staff/users/{alice}/deactivate").status_code == 303
    response = clerk.get("/staff/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert login(app.test_client(), ALICE).status_code == 401
    assert post(admin, f"/staff/users/{alice}/activate").status_code == 303
    assert clerk.get("/staff/").status_code == 302  # the old session stays ended
    assert logged_in(app, ALICE).get("/staff/").status_code == 200


def test_a_password_change_ends_every_session(app, db, alice):
    client = logged_in(app, ALICE)
    with db.transaction() as session:
        accounts.set_password(session, accounts.audit.CLI, alice, "a brand new password")
    assert client.get("/staff/").status_code == 302
    assert login(app.test_client(), ALICE).status_code == 401
    assert login(app.test_client(), ALICE, "a brand new password").status_code == 302


def test_a_copy_of_the_cookie_taken_before_sign_out_opens_nothing(app, db, alice):
    client = logged_in(app, ALICE)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/staff/").status_code == 200
    assert post(client, "/staff/logout").status_code == 302
    assert copy.get("/staff/").status_code == 302  # ended on the server, for every copy
    assert session_rows(db) == []


def test_a_session_idle_too_long_ends_and_one_in_use_does_not(app, db, alice):
    idle_limit = timedelta(minutes=app.config["PORTAL_SESSION_IDLE_MINUTES"])
    client = logged_in(app, ALICE)
    age(db, last_seen=idle_limit - timedelta(minutes=1))
    assert client.get("/staff/").status_code == 200  # used within the limit: goes on
    [row] = session_rows(db)
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)  # and counts as used now
    age(db, last_seen=idle_limit + timedelta(seconds=1))
    assert client.get("/staff/").status_code == 302
    assert session_rows(db) == []


def test_a_session_ends_at_its_absolute_age_however_busy(app, db, alice):
    client = logged_in(app, ALICE)
    age(db, created=timedelta(hours=app.config["PORTAL_SESSION_MAX_HOURS"], seconds=1))
    assert client.get("/staff/").status_code == 302


def test_the_timeouts_are_configurable(app_factory, db, alice):
    app = app_factory(PORTAL_SESSION_IDLE_MINUTES=5)
    client = logged_in(app, ALICE)
    age(db, last_seen=timedelta(minutes=6))
    assert client.get("/staff/").status_code == 302


def test_sessions_hold_across_app_instances_and_end_on_all(app_factory, db, alice):
    # Two workers (or hosts) sharing the database: a session begun on one works on the other,
    # and ending it on one ends it on both.
    one, two = app_factory(), app_factory()
    client = logged_in(one, ALICE)
    elsewhere = two.test_client()
    elsewhere.set_cookie("session", client.get_cookie("session").value)
    assert elsewhere.get("/staff/").status_code == 200
    assert post(elsewhere, "/staff/logout").status_code == 302
    assert client.get("/staff/").status_code == 302


def test_the_hourly_purge_deletes_only_timed_out_sessions(app, db, alice):
    logged_in(app, ALICE)
    logged_in(app, ALICE)
    first = min(row.id for row in session_rows(db))
    with db.transaction() as session:
        session.execute(update(StaffSession).where(StaffSession.id == first)
                        .values(last_seen_at=utcnow() - timedelta(hours=1)))
    with app.app_context():
        assert tasks.purge_sessions(app) == 1
    assert [row.id for row in session_rows(db)] != [first] and len(session_rows(db)) == 1


def test_anonymous_visitors_go_to_login_and_come_back(app, alice):
    client = app.test_client()
    response = client.get("/staff/audit?action=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/login?next=/staff/audit?action%3Dx"
    back = login(client, ALICE, next="/staff/audit?action=x")
    assert back.headers["Location"] == "/staff/audit?action=x"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "/staff/login", "/i/abc"])
def test_login_never_redirects_off_the_console(client, alice, target):
    assert login(client, ALICE, next=target).headers["Location"] == "/staff/"


def test_forms_without_a_csrf_token_are_refused(app, db, alice):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    anonymous = app.test_client()
    csrf_token(anonymous)
    response = anonymous.post("/staff/login", data={"email": ALICE, "password": PASSWORD})
    assert response.status_code == 400
    make_staff(db, "admin@acme.example", "admin")
    admin = logged_in(app, "admin@acme.example")
    assert admin.post(f"/staff/users/{alice}/deactivate").status_code == 400
    assert admin.post("/staff/logout").status_code == 400
    with db.reader() as session:
        assert session.get(StaffUser, alice).active
    assert admin.get("/staff/").status_code == 200


def test_a_hash_with_old_parameters_is_replaced_at_login(app, db, alice):
    with db.reader() as session:
        old = session.get(StaffUser, alice).password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    previous = accounts.use_hasher(stronger)
    try:
        assert login(app.test_client(), ALICE).status_code == 302
    finally:
        accounts.use_hasher(previous)
    with db.reader() as session:
        new = session.scalar(select(StaffUser.password_hash).where(StaffUser.id == alice))
    assert new != old and "t=2" in new and not stronger.check_needs_rehash(new)
    assert login(app.test_client(), ALICE).status_code == 302  # old params verify it still


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_budget(db):
    # On PostgreSQL the transactions overlap for real; without the lock on the address every
    # guess of a burst would count only itself and pass.
    budget = throttle.Budget(per_account_ip=5, per_ip=50)
    barrier, allowed = threading.Barrier(12), []

    def guess() -> None:
        barrier.wait()
        with db.transaction() as session:
            allowed.append(throttle.begin(session, ALICE, ATTACKER_IP, budget).allowed)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 12 and allowed.count(True) == 5
