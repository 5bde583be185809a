"""The daily refresh: what collections learned of each customer's paying, recomputed.

For the whole book at once: the learned timing (:func:`payments.collections.timing.learn`
over every customer's paid history) and the KPI trend with its early-warning flag
(:func:`payments.collections.trends.compute`), written to each customer's profile with
``learned_on`` = today. A profile row is created for a customer that has paid or open
invoices and none yet (no row means the defaults, so customers with nothing to chase get
none). Profiles whose customer has nothing left to learn from are reset, so a flag never
outlives its reason.

It reads in three queries and writes in two bulk statements (an INSERT of the new rows, an
UPDATE by primary key of the others), never a query per customer, and running it twice the
same day writes the same values.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from payments.collections import timing, trends
from payments.collections.models import CollectionProfile


def refresh(session: Session, today: date, warn_days: int = trends.DEFAULT_THRESHOLD) -> int:
    """Recompute every customer's learned timing and trend as of ``today`` (UTC); the flag
    goes up when days to pay worsened by more than ``warn_days``. Returns how many profiles
    were written (created or updated)."""
    histories = timing.paid_history(session)
    trend_by = trends.compute(session, today, threshold=warn_days)
    # Staff's "last changed" stays theirs: the refresh writes updated_at back unchanged.
    existing = dict(session.execute(
        select(CollectionProfile.customer_id, CollectionProfile.updated_at)).all())
    nothing = trends.Trend(today.isoformat())
    new, old = [], []
    for customer_id in sorted(set(histories) | set(trend_by) | set(existing)):
        trend = trend_by.get(customer_id, nothing)
        row = {"customer_id": customer_id,
               "learned": timing.learn(histories.get(customer_id, ())).as_json(),
               "trend": trend.as_json(), "trend_flag": trend.flag, "learned_on": today}
        if customer_id in existing:
            old.append(row | {"updated_at": existing[customer_id]})
        else:
            new.append(row)
    if new:
        session.execute(insert(CollectionProfile), new)
    if old:
        session.execute(update(CollectionProfile), old)
    session.flush()
    return len(new) + len(old)
