"""The dashboard's KPIs: receivables (aging, DSO, CEI) and activity (collected, clearing,
queues), each computed in SQL. Everything public is importable from here."""

from payments.console.kpis.activity import (
    COLLECTED_DEFINITION,
    Collected,
    Pending,
    Queues,
    Takings,
    collected,
    pending_ach,
    queue_counts,
)
from payments.console.kpis.receivables import (
    AGING_DEFINITION,
    BUCKETS,
    CEI_FORMULA,
    DAY,
    DSO_FORMULA,
    Aging,
    Bucket,
    Cei,
    Dso,
    aging,
    cei,
    credit_sales,
    dso,
    end_of,
)

__all__ = ["AGING_DEFINITION", "BUCKETS", "CEI_FORMULA", "COLLECTED_DEFINITION", "DAY",
           "DSO_FORMULA", "Aging", "Bucket", "Cei", "Collected", "Dso", "Pending", "Queues",
           "Takings", "aging", "cei", "collected", "credit_sales", "dso", "end_of",
           "pending_ach", "queue_counts"]
