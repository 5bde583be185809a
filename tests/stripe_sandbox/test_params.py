"""Stripe's form encoding round-trips: what the official SDK encodes, the sandbox decodes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from stripe_sandbox import errors
from stripe_sandbox import params as p

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
leaves = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
values = st.recursive(
    leaves,
    lambda children: st.one_of(st.lists(children, min_size=1, max_size=3),
                               st.dictionaries(keys, children, min_size=1, max_size=3)),
    max_leaves=12)


@given(st.dictionaries(keys, values, min_size=1, max_size=4))
def test_round_trip_with_the_sdk_encoder(data: dict[str, Any]) -> None:
    assert p.parse_form(_api_encode(data)) == data


def test_empty_brackets_append() -> None:
    parsed = p.parse_form([("payment_method_types[]", "card"),
                           ("payment_method_types[]", "us_bank_account"),
                           ("expand[]", "payment_intent")])
    assert parsed == {"payment_method_types": ["card", "us_bank_account"],
                      "expand": ["payment_intent"]}


def test_coerce_converts_and_rejects() -> None:
    schema = {"amount": p.integer(1), "flag": p.boolean, "items": [{"name": p.string(5)}],
              "metadata": p.metadata, "created": p.range_filter}
    converted = p.coerce({"amount": "12", "flag": "true", "items": [{"name": "ab"}],
                          "metadata": {"k": "v"}, "created": {"gte": "5"}}, schema)
    assert converted == {"amount": 12, "flag": True, "items": [{"name": "ab"}],
                         "metadata": {"k": "v"}, "created": {"gte": 5}}
    for bad, param in (({"amount": "1.5"}, "amount"), ({"amount": "0"}, "amount"),
                       ({"flag": "yes"}, "flag"), ({"items": [{"name": "toolong"}]},
                                                   "items[0][name]"),
                       ({"items": [{"nope": "x"}]}, "items[0][nope]"),
                       ({"amount": {"x": "1"}}, "amount")):
        with pytest.raises(errors.StripeError) as error:
            p.coerce(bad, schema)
        assert error.value.param == param and error.value.status == 400
    with pytest.raises(errors.StripeError):
        p.coerce({"metadata": {f"k{i}": "v" for i in range(51)}}, schema)


def test_range_filter() -> None:
    assert p.in_range(5, {"gte": 5, "lt": 6}) and not p.in_range(6, {"gte": 5, "lt": 6})
    assert p.in_range(7, p.range_filter("7", "created"))
