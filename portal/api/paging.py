"""What every list endpoint of the API shares: a comma-separated ``status`` filter, an opaque
cursor (the last id seen, versioned), ``limit``, and the page envelope. Problems go into the
caller's ``errors`` (field → message), so one 422 names them all."""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection
from typing import Any

from flask import Response, jsonify, request

from payments.paging import Page
from portal.urls import MAX_ROW_ID

MAX_PAGE = 100
DEFAULT_PAGE = 50


def statuses(allowed: Collection[str], errors: dict[str, str]) -> list[str]:
    """The ``status`` argument's values (comma-separated); none when one is unknown."""
    wanted = [s for s in request.args.get("status", "").split(",") if s]
    if bad := [s for s in wanted if s not in allowed]:
        errors["status"] = f"unknown status {bad[0]!r}; use one of {', '.join(allowed)}"
        return []
    return wanted


def position(errors: dict[str, str]) -> tuple[int | None, int]:
    """``(after_id, limit)`` from the ``cursor`` and ``limit`` arguments (None: from the
    start)."""
    return _decode_cursor(request.args.get("cursor"), errors), _limit(request.args.get("limit"),
                                                                      errors)


def respond(page: Page[Any], serialise: Callable[[list[Any]], list[dict[str, Any]]]
            ) -> Response:
    """The page envelope: the rows serialised, and an opaque cursor when more follow."""
    more = page.next_cursor is not None
    return jsonify({
        "data": serialise(list(page.rows)),
        "has_more": more,
        "next_cursor": _encode_cursor(page.next_cursor) if more else None,
    })


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, errors: dict[str, str]) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        # isdigit() alone lets "²" through, and int("²") raises: ASCII digits only.
        if version == "v1" and _is_number(value) and int(value) <= MAX_ROW_ID:
            return int(value)
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 inside
        pass
    errors["cursor"] = "not a cursor returned by this API"
    return None


def _limit(raw: str | None, errors: dict[str, str]) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if _is_number(raw) and 1 <= int(raw) <= MAX_PAGE:
        return int(raw)
    errors["limit"] = f"must be a whole number from 1 to {MAX_PAGE}"
    return DEFAULT_PAGE


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20
