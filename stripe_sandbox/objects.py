"""Object shapes. Every object starts as a deep copy of the example object of its resource
in ``stripe_fixtures.json`` (from Stripe's OpenAPI repository), has the example's sample
values replaced by neutral ones (``BLANKS``), then gets its real fields. So each object has
every top-level key Stripe documents for it."""

from __future__ import annotations

import copy
import json
import secrets
import string
from pathlib import Path
from typing import Any

FIXTURE_FILE = Path(__file__).with_name("stripe_fixtures.json")
FIXTURES: dict[str, dict[str, Any]] = json.loads(FIXTURE_FILE.read_text())["resources"]
_ALPHABET = string.ascii_letters + string.digits

_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None,
            "state": None}

BLANKS: dict[str, dict[str, Any]] = {
    "customer": {
        "address": None, "currency": None, "description": None, "discount": None,
        "email": None, "name": None, "phone": None, "shipping": None,
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
    },
    "checkout.session": {
        "after_expiration": None, "amount_subtotal": None, "amount_total": None,
        "automatic_tax": {"enabled": False, "liability": None, "status": None,
                          "provider": None},
        "consent": None, "consent_collection": None, "currency": None,
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer_details": None, "invoice_creation": None, "payment_intent": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None, "saved_payment_method_options": None,
        "shipping_address_collection": None, "shipping_cost": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted", "adaptive_pricing": {"enabled": False}, "discounts": [],
        "collected_information": None, "permissions": None, "wallet_options": None,
        "currency_conversion": None, "managed_payments": {"enabled": False},
    },
    "payment_intent": {
        "amount_details": {"tip": {}}, "automatic_payment_methods": None,
        "canceled_at": None, "last_payment_error": None, "next_action": None,
        "payment_method_configuration_details": None, "processing": None, "shipping": None,
        "transfer_data": None, "managed_payments": None,
    },
    "charge": {
        "balance_transaction": None, "billing_details": {
            "address": dict(_ADDRESS), "email": None, "name": None, "phone": None,
            "tax_id": None},
        "description": None, "fraud_details": {}, "payment_method_details": None,
        "receipt_url": None, "shipping": None, "source": None, "transfer_data": None,
    },
    "refund": {"destination_details": None},
    "dispute": {
        "evidence_details": {"due_by": None, "has_evidence": False, "past_due": False,
                             "submission_count": 0, "enhanced_eligibility": {}},
        "enhanced_eligibility_types": [],
    },
    "event": {"api_version": None, "data": {"object": {}}},
    "webhook_endpoint": {"description": None, "enabled_events": []},
    "customer_cash_balance_transaction": {"funded": None},
    "item": {"metadata": None, "adjustable_quantity": None},
    "payment_method": {
        "billing_details": {"address": dict(_ADDRESS), "email": None, "name": None,
                            "phone": None, "tax_id": None},
        "card": None, "metadata": {},
    },
}


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-style id: ``prefix`` + ``_`` + random letters and digits."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def session_id() -> str:
    """A Checkout Session id as test mode issues them (``cs_test_a1...``)."""
    return new_id("cs_test", 58).replace("cs_test_", "cs_test_a1", 1)[:66]


def random_code(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    """Random uppercase letters and digits (references, invoice prefixes)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def make(resource: str, **fields: Any) -> dict[str, Any]:
    """A new ``resource`` object: the fixture, blanked, with ``fields`` set."""
    obj = copy.deepcopy(FIXTURES[resource])
    obj.update(copy.deepcopy(BLANKS.get(resource, {})))
    if "metadata" in obj and "metadata" not in fields and resource != "item":
        obj["metadata"] = {}
    obj.update(fields)
    if "livemode" in obj:
        obj["livemode"] = False
    return obj


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy: what an event or a response carries at this moment."""
    return copy.deepcopy(obj)


def merge_metadata(current: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    """Stripe's metadata update: keys merge, ``""`` unsets a key, an empty hash clears all."""
    if not changes:
        return {}
    merged = dict(current, **changes)
    return {key: value for key, value in merged.items() if value != ""}
