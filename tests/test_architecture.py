"""The house rules, as tests: they read the source (the AST), so breaking a rule fails here
whether or not any other test exercises the offending code.

- ``payments/`` (the core) never imports Flask, werkzeug or ``portal``.
- Only ``payments/stripe/gateway.py`` imports the Stripe SDK, in the core and in the portal.
- Only ``payments/ledger/ledger.py`` creates a ``LedgerEntry`` or writes an invoice's balances.
- A context imports only contexts below it (``CONTEXTS``, bottom first); modules at the top of
  ``payments/`` (db, clock, money, paging, reads, …) import no context at all, except
  ``schema.py``, the one registry of every model.
- The sandbox is an app of its own: it imports neither the core nor the portal.
- Modules stay under ``MAX_MODULE_LINES`` lines and functions under ``MAX_FUNCTION_LINES``.

Each rule is also run on a small module that breaks it, so a rule that silently stopped
checking would fail too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Bottom first: a context may import the ones before it, never one after it or a sibling
# in the same tier.
CONTEXTS: list[tuple[str, ...]] = [
    ("stripe", "staff"),  # the Stripe boundary; staff accounts and the audit log
    ("invoicing",),
    ("links",),
    ("checkout", "outbox"),  # paying; the customer email outbox (whose mails carry links)
    ("ledger",),  # payments, the ledger, reconciliation and the exceptions it raises
    ("events",),  # the event store, the handler table, recovery, the return page's outcome
    ("confirmations",),
    ("resolutions",),
    ("disputes",),  # commercial disputes from the invoice page, credit notes
    ("console",),  # the staff console's read models and KPIs
    ("collections",),  # reminders, promises, the worklist and the customer timeline
]
TIER = {context: n for n, tier in enumerate(CONTEXTS) for context in tier}
GATEWAY = "payments/stripe/gateway.py"
LEDGER = "payments/ledger/ledger.py"
SCHEMA = "payments/schema.py"
BALANCES = {"amount_paid", "amount_pending"}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40

Rule = Callable[[str, ast.Module], Iterator[str]]


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import, ``from payments import x`` as ``payments.x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "payments":
                for alias in node.names:
                    yield node.lineno, f"payments.{alias.name}"
            else:
                yield node.lineno, node.module


def core_is_framework_free(path: str, tree: ast.Module) -> Iterator[str]:
    """Nothing under payments/ imports flask, a flask extension, werkzeug or the portal."""
    if not path.startswith("payments/"):
        return
    for line, module in _imports(tree):
        top = module.split(".")[0]
        if top in ("flask", "werkzeug", "portal") or top.startswith("flask_"):
            yield f"{path}:{line} imports {module}"


def one_stripe_boundary(path: str, tree: ast.Module) -> Iterator[str]:
    """Only the gateway imports the Stripe SDK (``payments.stripe`` is the core's package)."""
    if path == GATEWAY or not path.startswith(("payments/", "portal/")):
        return
    for line, module in _imports(tree):
        if module.split(".")[0] == "stripe":
            yield f"{path}:{line} imports {module}"


def one_ledger_writer(path: str, tree: ast.Module) -> Iterator[str]:
    """Only ledger.py creates LedgerEntry rows or assigns an invoice's balance columns."""
    if path == LEDGER or not path.startswith(("payments/", "portal/")):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "LedgerEntry":
                yield f"{path}:{node.lineno} creates a LedgerEntry"
            if name == "values" and any(k.arg in BALANCES for k in node.keywords):
                yield f"{path}:{node.lineno} writes invoice balances in an UPDATE"
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in BALANCES:
                yield f"{path}:{node.lineno} assigns .{target.attr}"


def contexts_import_downward(path: str, tree: ast.Module) -> Iterator[str]:
    """A context imports only lower tiers; top-level core modules import no context."""
    parts = Path(path).with_suffix("").parts
    if parts[0] != "payments" or "migrations" in parts or path == SCHEMA:
        return
    own = TIER.get(parts[1]) if len(parts) > 2 else None
    if len(parts) > 2 and own is None:
        yield f"{path}: payments/{parts[1]}/ is not in CONTEXTS"
        return
    for line, module in _imports(tree):
        target = module.split(".")
        if target[0] != "payments" or len(target) < 2 or target[1] not in TIER:
            continue
        if target[1] == parts[1]:
            continue
        if own is None or TIER[target[1]] >= own:
            yield f"{path}:{line} imports {module} (upward or sideways)"


def sandbox_stands_alone(path: str, tree: ast.Module) -> Iterator[str]:
    """The Stripe sandbox is a separate app: it imports neither the core nor the portal."""
    if not path.startswith("stripe_sandbox/"):
        return
    for line, module in _imports(tree):
        if module.split(".")[0] in ("payments", "portal"):
            yield f"{path}:{line} imports {module}"


def small_pieces(path: str, tree: ast.Module) -> Iterator[str]:
    """Modules under MAX_MODULE_LINES lines, functions under MAX_FUNCTION_LINES."""
    if "migrations" in Path(path).parts:
        return
    lines = max((getattr(n, "end_lineno", 0) or 0 for n in ast.walk(tree)), default=0)
    if lines > MAX_MODULE_LINES:
        yield f"{path} has {lines} lines"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{path}:{node.lineno} {node.name}() has {length} lines"


RULES: list[Rule] = [core_is_framework_free, one_stripe_boundary, one_ledger_writer,
                     contexts_import_downward, sandbox_stands_alone, small_pieces]


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for package in ("payments", "portal", "stripe_sandbox"):
        for file in sorted((ROOT / package).rglob("*.py")):
            yield file.relative_to(ROOT).as_posix(), ast.parse(file.read_text(), str(file))


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_code_keeps_the_rule(rule: Rule):
    checked = list(_sources())
    assert len(checked) > 100  # the walk found the code
    broken = [problem for path, tree in checked for problem in rule(path, tree)]
    assert broken == [], rule.__doc__


BREAKING = [
    (core_is_framework_free, "payments/ledger/reconcile.py", "from flask import g\n"),
    (core_is_framework_free, "payments/money.py", "import flask_wtf\n"),
    (core_is_framework_free, "payments/links/tokens.py", "from portal import database\n"),
    (one_stripe_boundary, "payments/resolutions/refunds.py", "import stripe\n"),
    (one_stripe_boundary, "portal/customer/pay.py", "from stripe import StripeError\n"),
    (one_ledger_writer, "payments/resolutions/actions.py",
     "entry = LedgerEntry(invoice_id=1, kind='adjustment', paid_delta=5, cause='x')\n"),
    (one_ledger_writer, "portal/staff/invoices.py", "invoice.amount_paid = 0\n"),
    (one_ledger_writer, "payments/invoicing/upsert.py",
     "session.execute(update(Invoice).values(amount_pending=0))\n"),
    (contexts_import_downward, "payments/ledger/ledger.py",
     "from payments.resolutions.core import lock_row\n"),
    (contexts_import_downward, "payments/invoicing/upsert.py", "from payments import links\n"),
    (contexts_import_downward, "payments/stripe/facts.py",
     "from payments.staff.audit import record\n"),
    (contexts_import_downward, "payments/money.py",
     "from payments.invoicing.models import Invoice\n"),
    (contexts_import_downward, "payments/billing/plans.py", "x = 1\n"),
    (sandbox_stands_alone, "stripe_sandbox/api.py", "from payments.reads import Reads\n"),
    (small_pieces, "payments/money.py", "def f():\n" + "    x = 1\n" * 40),
]


@pytest.mark.parametrize(("rule", "path", "source"), BREAKING,
                         ids=[f"{rule.__name__}:{path}" for rule, path, _ in BREAKING])
def test_a_module_that_breaks_the_rule_is_reported(rule: Rule, path: str, source: str):
    assert list(rule(path, ast.parse(source))) != []


def test_the_gateway_and_the_ledger_may_do_what_no_one_else_may():
    assert list(one_stripe_boundary(GATEWAY, ast.parse("import stripe\n"))) == []
    assert list(one_ledger_writer(LEDGER, ast.parse("LedgerEntry(invoice_id=1)\n"))) == []
    assert list(contexts_import_downward(
        "payments/ledger/reconcile.py", ast.parse("from payments.checkout.models import X\n"))
    ) == []
