"""Staff accounts: add, authenticate, change role, deactivate, end sessions, list.

Passwords are hashed with Argon2id (argon2-cffi), a memory-hard KDF; a hash made with older
parameters is replaced at the next successful login. Every change is audited in the same
transaction (:mod:`payments.staff.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.staff import audit, sessions
from payments.staff.models import ROLES, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte "password" is a cheap way to burn our CPU

_hasher = PasswordHasher()
_dummy_hash: str | None = None


class StaffError(ValueError):
    """A staff change that cannot be made; the message is for the person who asked."""


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash new passwords with ``hasher`` from now on; returns the previous one.

    Tests use cheap parameters; raising the cost in production rehashes each password at its
    owner's next login.
    """
    global _hasher, _dummy_hash
    previous, _hasher, _dummy_hash = _hasher, hasher, None
    return previous


def normalize_email(email: str) -> str:
    """The stored form of an email address: trimmed and lower-cased."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Raise :class:`StaffError` unless ``password`` is an acceptable new password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with the current parameters."""
    return _hasher.hash(password)


def _state(user: StaffUser) -> dict:
    return {"email": user.email, "role": user.role, "active": user.active}


def _target(user: StaffUser) -> tuple[str, int]:
    return ("staff_user", user.id)


def _check_email(email: str) -> str:
    email = normalize_email(email)
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or any(c.isspace()
                                                                           for c in email):
        raise StaffError(f"{email!r} is not an email address")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise StaffError(f"the role must be one of {', '.join(ROLES)}")
    return role


def by_email(session: Session, email: str) -> StaffUser | None:
    """The staff user with ``email`` (any case), or None."""
    return session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))


def add(session: Session, actor: audit.Actor, email: str, role: str, password: str,
        password_hash: str | None = None) -> StaffUser:
    """Create an active staff user. ``password_hash`` may be precomputed (outside the
    transaction, since hashing is deliberately slow); raises :class:`StaffError` when the email
    is taken or anything is invalid."""
    email, role = _check_email(email), _check_role(role)
    check_password(password)
    if by_email(session, email) is not None:
        raise StaffError(f"a staff user with the email {email} already exists")
    user = StaffUser(email=email, role=role, active=True, session_version=1,
                     password_hash=password_hash or hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor, "staff.add", _target(user), None, _state(user))
    return user


def authenticate(session: Session, email: str, password: str) -> StaffUser | None:
    """The active staff user with this email and password, or None.

    Unknown emails are checked against a dummy hash and inactive users have their password
    verified all the same, so the time taken does not tell which accounts exist.
    """
    global _dummy_hash
    user = by_email(session, email) if len(email) <= 320 else None
    if _dummy_hash is None:
        _dummy_hash = hash_password("not the password of anyone at all")
    stored = user.password_hash if user is not None else _dummy_hash
    if len(password) > MAX_PASSWORD_LENGTH:
        password = password[:MAX_PASSWORD_LENGTH]  # still verify: same time as any failure
        user = None
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user is not None and user.active else None


def needs_rehash(user: StaffUser) -> bool:
    """True when the user's hash was made with parameters other than the current ones."""
    try:
        return _hasher.check_needs_rehash(user.password_hash)
    except InvalidHashError:
        return True


def record_login(session: Session, user_id: int, ip: str | None,
                 new_hash: str | None = None) -> StaffUser:
    """Note a successful login (time, and the rehashed password if there is one); audited."""
    user = _locked(session, user_id)
    user.last_login_at = utcnow()
    if new_hash is not None:
        user.password_hash = new_hash
    audit.record(session, audit.Actor.staff(user, ip), "staff.login", _target(user))
    return user


def end_all_sessions(session: Session, actor: audit.Actor, user_id: int) -> StaffUser:
    """Sign the user out everywhere: every session that began before now stops working."""
    user = _locked(session, user_id)
    before = user.session_version
    _end_sessions(session, user)
    audit.record(session, actor, "staff.sign_out_everywhere", _target(user),
                 {"session_version": before}, {"session_version": user.session_version})
    return user


def _end_sessions(session: Session, user: StaffUser) -> None:
    # The rows are the sessions; the version counts how often they were all ended (audited).
    user.session_version += 1
    sessions.end_all(session, user.id)


def set_password(session: Session, actor: audit.Actor, user_id: int, password: str,
                 password_hash: str | None = None) -> StaffUser:
    """Replace the user's password and end every session they have (audited, hash not kept)."""
    check_password(password)
    user = _locked(session, user_id)
    user.password_hash = password_hash or hash_password(password)
    _end_sessions(session, user)
    audit.record(session, actor, "staff.set_password", _target(user), None,
                 {"password": "changed"})
    return user


def set_role(session: Session, actor: audit.Actor, user_id: int, role: str) -> StaffUser:
    """Change a user's role; refused if it would leave no active admin."""
    role = _check_role(role)
    admins = _lock_admins(session)
    user = _locked(session, user_id)
    if user.role == role:
        return user
    if user.role == "admin" and user.active:
        _keep_an_admin(admins, user)
    before = _state(user)
    user.role = role
    audit.record(session, actor, "staff.set_role", _target(user), before, _state(user))
    return user


def deactivate(session: Session, actor: audit.Actor, user_id: int) -> StaffUser:
    """Deactivate a user and end all their sessions; refused for the last active admin."""
    admins = _lock_admins(session)
    user = _locked(session, user_id)
    if not user.active:
        return user
    if actor.id == user.id:
        raise StaffError("you cannot deactivate your own account")
    if user.role == "admin":
        _keep_an_admin(admins, user)
    before = _state(user)
    user.active = False
    _end_sessions(session, user)
    audit.record(session, actor, "staff.deactivate", _target(user), before, _state(user))
    return user


def activate(session: Session, actor: audit.Actor, user_id: int) -> StaffUser:
    """Let a deactivated user log in again (their old sessions stay ended)."""
    user = _locked(session, user_id)
    if user.active:
        return user
    before = _state(user)
    user.active = True
    audit.record(session, actor, "staff.activate", _target(user), before, _state(user))
    return user


def _locked(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None:
        raise StaffError("there is no such staff user")
    return user


def _lock_admins(session: Session) -> set[int]:
    # Lock the active admins, in id order, before the user being changed: two admins demoting
    # each other at once then queue here (PostgreSQL re-reads the rows after the wait, so the
    # second sees the first's change) instead of both passing, or deadlocking over each
    # other's row. SQLite serializes writers anyway.
    return set(session.scalars(select(StaffUser.id).where(
        StaffUser.role == "admin", StaffUser.active.is_(True))
        .order_by(StaffUser.id).with_for_update()))


def _keep_an_admin(admins: set[int], leaving: StaffUser) -> None:
    if admins <= {leaving.id}:
        raise StaffError("at least one active admin must remain")


def list_users(session: Session, include_inactive: bool = True) -> Sequence[StaffUser]:
    """Staff users, active first, then by email."""
    stmt = select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)
    if not include_inactive:
        stmt = stmt.where(StaffUser.active.is_(True))
    return session.scalars(stmt).all()

