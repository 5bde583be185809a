"""Learned timing on hand-checked histories; contact windows and time zones around midnight
and daylight saving; the planner's "why this date"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from payments.collections import planner, timing, windows
from payments.collections.policy import DEFAULT_STEPS, Step
from payments.collections.timing import Paid

START = date(2026, 1, 1)


def history(*days_late: int, amounts: tuple[int, ...] | None = None) -> list[Paid]:
    """Paid invoices, oldest first, a week apart, each ``days_late`` after its due date."""
    amounts = amounts or (10_000,) * len(days_late)
    return [Paid(n, START + timedelta(days=7 * n), late, amount)
            for n, (late, amount) in enumerate(zip(days_late, amounts, strict=True))]


def test_three_invoices_are_enough_and_the_newest_weighs_most():
    # Newest first: 30 (weight 12), 20 (11), 10 (10); total 33, half 16.5: 10 reaches 10,
    # 20 reaches 21 -> the median is 20. Quartiles: 8.25 -> 10, 24.75 -> 30.
    learned = timing.learn(history(10, 20, 30))
    assert (learned.count, learned.usual, learned.low, learned.high) == (3, 20, 10, 30)
    assert learned.mean == "20.0"
    assert learned.shift == 20


def test_two_invoices_are_not_enough():
    learned = timing.learn(history(15, 15))
    assert learned.usual is None and learned.shift == 0 and learned.count == 2
    assert "2 of 3" in learned.words()


def test_only_the_last_twelve_count():
    # Two very late invoices long ago, then twelve paid 5 days late: the old ones drop out.
    learned = timing.learn(history(60, 60, *([5] * 12)))
    assert (learned.count, learned.usual, learned.low, learned.high) == (12, 5, 5, 5)


def test_twelve_with_a_trend_follow_the_recent_habit():
    # Used to pay 2 days late, lately 20: the recency weights tip the median to the new habit
    # (the six newest weigh 12+11+10+9+8+7 = 57 of 78).
    learned = timing.learn(history(*([2] * 6), *([20] * 6)))
    assert learned.usual == 20 and learned.low == 2


def test_an_outlier_does_not_move_the_median_but_shows_in_the_mean():
    amounts = (10_000, 10_000, 10_000, 10_000, 90_000, 10_000)
    learned = timing.learn(history(15, 14, 16, 15, 90, 15, amounts=amounts))
    assert learned.usual == 15
    # Amount-weighted: (15+14+16+15+15)*10000 + 90*90000 over 140000 = 63.2
    assert learned.mean == "63.2"


def test_early_payers_are_never_chased_earlier():
    learned = timing.learn(history(-5, -3, -4))
    assert learned.usual == -4 and learned.shift == 0
    assert "4 days before due" in learned.words()


def test_learned_round_trips_through_json():
    learned = timing.learn(history(3, 4, 5, 6))
    assert timing.Learned.from_json(learned.as_json()) == learned
    assert timing.Learned.from_json(None) == timing.NOTHING


NEW_YORK = windows.zone("America/New_York")


def test_windows_cover_month_days_year_ends_and_dates():
    monthly = windows.parse_window("monthly", "15", "21", "away")
    assert monthly.covers(date(2026, 12, 15)) and monthly.covers(date(2026, 12, 21))
    assert not monthly.covers(date(2026, 12, 22))
    wrap = windows.parse_window("yearly", "12-24", "01-02")
    assert wrap.covers(date(2026, 12, 31)) and wrap.covers(date(2027, 1, 2))
    assert not wrap.covers(date(2027, 1, 3)) and not wrap.covers(date(2026, 12, 23))
    once = windows.parse_window("dates", "2027-03-01", "2027-03-12")
    assert once.covers(date(2027, 3, 5)) and not once.covers(date(2028, 3, 5))
    assert monthly.words() == "days 15–21 of every month (away)"
    assert wrap.words() == "Dec 24 – Jan 2 every year"


@pytest.mark.parametrize(("kind", "start", "end", "message"), [
    ("monthly", "0", "3", "1 to 31"),
    ("monthly", "x", "3", "numbers"),
    ("yearly", "02-30", "03-01", "MM-DD"),
    ("dates", "2027-03-12", "2027-03-01", "before the first"),
    ("weekly", "1", "2", "Choose"),
])
def test_bad_windows_are_refused_with_a_reason(kind, start, end, message):
    with pytest.raises(windows.WindowError, match=message):
        windows.parse_window(kind, start, end)


def test_a_blocked_day_moves_to_the_next_contact_day_with_reasons():
    rules = windows.Rules(NEW_YORK, windows=(windows.parse_window("monthly", "15", "21"),))
    # Tue 15 Dec 2026 … Mon 21 Dec are blocked; the 19th/20th are a weekend anyway.
    day, reasons = rules.first_open_day(date(2026, 12, 15))
    assert day == date(2026, 12, 22)
    assert reasons == ["not to be contacted days 15–21 of every month",
                       "Saturday is not a business day", "Sunday is not a business day"]


def test_contact_hours_are_the_customers_own_around_midnight():
    rules = windows.Rules(NEW_YORK, hours=(9, 17))
    # 03:30 UTC on Thursday 3 Dec is 22:30 on Wednesday 2 Dec in New York: outside hours.
    late_evening = datetime(2026, 12, 3, 3, 30, tzinfo=UTC)
    assert rules.local(late_evening).date() == date(2026, 12, 2)
    assert not rules.may_contact(late_evening)
    # 14:00 UTC is 09:00 in New York (EST, UTC-5): the first contact minute.
    assert rules.may_contact(datetime(2026, 12, 3, 14, 0, tzinfo=UTC))
    assert not rules.may_contact(datetime(2026, 12, 3, 13, 59, tzinfo=UTC))
    assert rules.opening(date(2026, 12, 3)) == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def test_the_opening_follows_daylight_saving():
    rules = windows.Rules(NEW_YORK, hours=(9, 17))
    # DST starts on Sunday 8 March 2026: 09:00 is 14:00 UTC on Friday, 13:00 UTC on Monday.
    assert rules.opening(date(2026, 3, 6)) == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    assert rules.opening(date(2026, 3, 9)) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    # It ends on Sunday 1 November: back to 14:00 UTC on Monday 2 November.
    assert rules.opening(date(2026, 11, 2)) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_unknown_time_zones_and_empty_weeks_are_refused():
    with pytest.raises(windows.WindowError, match="not a time zone"):
        windows.zone("Mars/Olympus_Mons")
    with pytest.raises(windows.WindowError, match="business day"):
        windows.business_days("")


def northwind(**overrides) -> planner.Person:
    values = dict(customer_id=1, name="Northwind", steps=DEFAULT_STEPS,
                  rules=windows.Rules(NEW_YORK), emails=("ap@northwind.example",),
                  learned=timing.learn(history(15, 14, 16, 15, 15, 15, 15, 15)))
    values.update(overrides)
    return planner.Person(**values)


INVOICE = planner.Chased(7, 1, "INV-7", "USD", date(2026, 11, 2), date(2026, 12, 1), 5_000)


def test_overdue_steps_shift_by_the_usual_lateness_and_courtesy_steps_do_not():
    planned = {p.step.offset: p for p in planner.schedule(northwind(), INVOICE)}
    assert planned[-3].day == date(2026, 11, 30)  # Monday: three days before due, unshifted
    # +1 is due + 1 + 15 = Thursday 17 Dec 2026.
    assert planned[1].day == date(2026, 12, 17)
    assert "usually pays 15 days after due (from 8 paid invoices" in planned[1].words()
    assert "moved 15 days later, to 2026-12-17" in planned[1].words()
    assert planned[1].at == datetime(2026, 12, 17, 14, 0, tzinfo=UTC)


def test_learning_off_keeps_the_policy_timing():
    planned = {p.step.offset: p for p in planner.schedule(northwind(learn_timing=False),
                                                          INVOICE)}
    assert planned[1].day == date(2026, 12, 2)


def test_a_step_in_a_window_and_a_promise_says_why():
    rules = windows.Rules(NEW_YORK, windows=(windows.parse_window("monthly", "15", "21",
                                                                  "away"),))
    pause = planner.Pause(date(2026, 12, 20), date(2026, 12, 28), "a promise to pay by 2026-12-28")
    person = northwind(rules=rules)
    plan = {p.step.offset: p for p in planner.schedule(person, INVOICE)}
    assert plan[1].day == date(2026, 12, 22)
    assert "days 15–21 of every month (away)" in plan[1].words()
    paused = {p.step.offset: p for p in planner.schedule(replace(person, pauses=(pause,)),
                                                           INVOICE)}
    assert paused[1].day == date(2026, 12, 29)
    assert "paused by a promise to pay by 2026-12-28" in paused[1].words()


def test_preferred_channel_and_missing_address_replace_email():
    by_call = {p.step.offset: p.channel for p in planner.schedule(
        northwind(preferred_channel="call"), INVOICE)}
    assert by_call[1] == "call" and by_call[30] == "letter" and by_call[45] == "escalate"
    no_address = {p.step.offset: p for p in planner.schedule(northwind(emails=()), INVOICE)}
    assert no_address[7].channel == "call"
    assert "no email address" in no_address[7].words()


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_decide_catches_up_once_and_skips_stale_steps():
    person = northwind(learned=timing.NOTHING)
    # +1 (2 Dec) and +7 (8 Dec) both passed by 10 Dec: +7 is 2 days late: sent; +1 is 8 days
    # late: skipped; the courtesy step is pointless after the due date.
    decision = planner.decide(person, INVOICE, at(date(2026, 12, 10)), stale_days=3)
    assert decision.act.step.offset == 7
    reasons = {p.step.offset: why for p, why in decision.skipped}
    assert "8 days late" in reasons[1]
    assert "due date has passed" in reasons[-3]
    assert decision.last_offset == 7
    # After +7 is done, nothing until +14.
    done = planner.Chased(**{**INVOICE.__dict__, "last_offset": 7})
    assert planner.decide(person, done, at(date(2026, 12, 11)), 3).act is None


def test_decide_waits_outside_contact_hours_and_for_do_not_chase():
    person = northwind(learned=timing.NOTHING)
    evening = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 18:00 in New York
    assert planner.decide(person, INVOICE, evening, 3) == planner.NOTHING_NOW
    assert planner.decide(northwind(do_not_chase=True), INVOICE, at(date(2026, 12, 2)), 3) \
        == planner.NOTHING_NOW
    held = planner.Chased(**{**INVOICE.__dict__, "do_not_chase": True})
    assert planner.decide(person, held, at(date(2026, 12, 2)), 3) == planner.NOTHING_NOW


def test_step_words():
    assert Step(-3, "email").words() == "3 days before due: email"
    assert Step(0, "call").words() == "the due date: call task"
    assert Step(30, "letter").words() == "day +30: letter (PDF to print and mail)"
