"""When a customer may be contacted: its business days and contact hours in its own time
zone, minus its contact windows (days it asked not to be contacted). A contact planned for a
day that is not allowed moves to the next allowed day, at the start of the contact hours.

Everything here is pure: :class:`Rules` is built from a profile and its windows, and the
functions answer with dates and reasons in words (the console's "why this date").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_SEARCH_DAYS = 400  # a year of windows cannot block every day; stop looking after this
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class WindowError(ValueError):
    """A contact window or contact setting that cannot be saved; the message says why."""


@dataclass(frozen=True)
class Window:
    """Days not to contact (see :class:`payments.collections.models.ContactWindow`)."""

    kind: str
    start: tuple[int, ...]
    end: tuple[int, ...]
    label: str | None = None

    def covers(self, day: date) -> bool:
        """True when ``day`` falls inside the window (both ends included)."""
        if self.kind == "dates":
            return date(*self.start) <= day <= date(*self.end)
        key = (day.day,) if self.kind == "monthly" else (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end  # wraps the month or the year end

    def words(self) -> str:
        """"days 15–21 of every month (away)", "Dec 24 – Jan 2 every year", …"""
        if self.kind == "monthly":
            text = f"days {self.start[0]}–{self.end[0]} of every month"
        elif self.kind == "yearly":
            text = (f"{_MONTHS[self.start[0] - 1]} {self.start[1]} – "
                    f"{_MONTHS[self.end[0] - 1]} {self.end[1]} every year")
        else:
            text = f"{date(*self.start).isoformat()} to {date(*self.end).isoformat()}"
        return f"{text} ({self.label})" if self.label else text


def parse_window(kind: str, start: str, end: str, label: str | None = None) -> Window:
    """A window from the console's or the database's strings; :class:`WindowError` if bad."""
    start, end = start.strip(), end.strip()
    try:
        if kind == "monthly":
            first, last = (int(start),), (int(end),)
            if not (1 <= first[0] <= 31 and 1 <= last[0] <= 31):
                raise WindowError("Days of the month go from 1 to 31.")
        elif kind == "yearly":
            first, last = _month_day(start), _month_day(end)
        elif kind == "dates":
            first_day, last_day = date.fromisoformat(start), date.fromisoformat(end)
            if last_day < first_day:
                raise WindowError("The last day comes before the first.")
            first, last = _ymd(first_day), _ymd(last_day)
        else:
            raise WindowError("Choose days of the month, days of the year, or dates.")
    except WindowError:
        raise
    except ValueError:
        raise WindowError(_FORMATS.get(kind, "Check the window's days.")) from None
    return Window(kind, first, last, (label or "").strip() or None)


_FORMATS = {"monthly": "Give days of the month as numbers, e.g. 15 and 21.",
            "yearly": "Give days of the year as MM-DD, e.g. 12-24 and 01-02.",
            "dates": "Give dates as YYYY-MM-DD, e.g. 2027-03-01."}


def _month_day(text: str) -> tuple[int, int]:
    month, day = (int(part) for part in text.split("-"))
    date(2024, month, day)  # a leap year: 02-29 is a day of some years
    return month, day


def _ymd(day: date) -> tuple[int, int, int]:
    return day.year, day.month, day.day


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`WindowError` if there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"{name!r} is not a time zone; use a name like "
                          "America/New_York or Europe/Paris.") from None


@dataclass(frozen=True)
class Rules:
    """One customer's contact rules: contact hours ``[start, end)`` local, ISO weekdays."""

    zone: ZoneInfo
    hours: tuple[int, int] = (9, 17)
    business_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    windows: tuple[Window, ...] = ()

    def blocked(self, day: date) -> str | None:
        """Why ``day`` is not a contact day, or None when it is."""
        if day.isoweekday() not in self.business_days:
            return f"{WEEKDAYS[day.weekday()]} is not a business day"
        for window in self.windows:
            if window.covers(day):
                return f"not to be contacted {window.words()}"
        return None

    def first_open_day(self, day: date) -> tuple[date, list[str]]:
        """The first contact day on or after ``day``, and why each day before it was not."""
        found, reasons = _first_open_day(self, day)
        return found, list(reasons)

    def opening(self, day: date) -> datetime:
        """The start of the contact hours on ``day`` (local), in UTC."""
        return datetime.combine(day, time(self.hours[0]), self.zone).astimezone(UTC)

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the customer's clock."""
        return moment.astimezone(self.zone)

    def may_contact(self, moment: datetime) -> bool:
        """True when ``moment`` is inside the contact hours of a contact day."""
        here = self.local(moment)
        return self.blocked(here.date()) is None and self.hours[0] <= here.hour < self.hours[1]


@lru_cache(maxsize=65536)
def _first_open_day(rules: Rules, day: date) -> tuple[date, tuple[str, ...]]:
    # A tick asks this of thousands of invoices due on the same few days, by the same rules.
    reasons: list[str] = []
    for _ in range(MAX_SEARCH_DAYS):
        reason = rules.blocked(day)
        if reason is None:
            return day, tuple(reasons)
        if reason not in reasons:
            reasons.append(reason)
        day += timedelta(days=1)
    raise WindowError("The contact windows leave no day to contact the customer.")


def next_contact(rules: Rules, moment: datetime) -> datetime:
    """``moment`` if the customer may be contacted then, else the next opening of its contact
    hours."""
    if rules.may_contact(moment):
        return moment
    here = rules.local(moment)
    day = here.date() if here.hour < rules.hours[0] else here.date() + timedelta(days=1)
    return rules.opening(rules.first_open_day(day)[0])


def business_days(text: str) -> frozenset[int]:
    """ISO weekdays from a string of digits ("12345": Monday to Friday)."""
    days = frozenset(int(c) for c in text if c.isdigit())
    if not days or not days <= frozenset(range(1, 8)):
        raise WindowError("Choose at least one business day.")
    return days
