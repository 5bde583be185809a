"""Stripe's form encoding: bracket notation into nested dicts and lists, then a small schema
that converts the strings and rejects unknown parameters with Stripe's messages.

A schema is a dict (a hash parameter), a one-element list (an array of that schema), or a
leaf: a function ``(value, param_name) -> converted`` that raises a ``StripeError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from stripe_sandbox import errors
from stripe_sandbox.money import CURRENCIES

Leaf = Callable[[Any, str], Any]
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``[("metadata[k]", "v"), ("types[]", "a")]`` into ``{"metadata": {"k": "v"}, ...}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split_key(key)
        node = root
        for position, token in enumerate(tokens):
            if token == "":
                token = str(sum(1 for k in node if k.isdigit()))
            if position == len(tokens) - 1:
                node[token] = value
            else:
                child = node.get(token)
                if not isinstance(child, dict):
                    child = node[token] = {}
                node = child
    return _listify(root)


def _split_key(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def coerce(value: Any, schema: Any, param: str = "") -> Any:
    """Check ``value`` against ``schema``; return it converted (ints, bools, lists)."""
    if isinstance(schema, dict):
        if value == "" and param:
            return {}
        if not isinstance(value, dict):
            raise errors.invalid(f"Invalid object: {param} must be a hash", param)
        return {key: coerce(sub, _child(schema, key, param), _name(param, key))
                for key, sub in value.items()}
    if isinstance(schema, list):
        if value == "":
            return []
        if not isinstance(value, list):
            raise errors.invalid(f"Invalid array: {param} must be an array", param)
        return [coerce(item, schema[0], f"{param}[{index}]")
                for index, item in enumerate(value)]
    return schema(value, param)


def _child(schema: dict[str, Any], key: str, param: str) -> Any:
    if key in schema:
        return schema[key]
    raise errors.unknown_param(_name(param, key))


def _name(param: str, key: str) -> str:
    return f"{param}[{key}]" if param else key


def _scalar(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise errors.invalid(f"Invalid string: {param} must be a string, not a hash or array",
                             param, "parameter_invalid_string")
    return value


def string(max_length: int = 5000) -> Leaf:
    """A string leaf of at most ``max_length`` characters."""
    def convert(value: Any, param: str) -> str:
        text = _scalar(value, param)
        if len(text) > max_length:
            raise errors.invalid(f"Invalid string: {param} must be at most {max_length} "
                                 "characters", param, "parameter_invalid_string")
        return text
    return convert


def integer(minimum: int | None = None, maximum: int | None = None) -> Leaf:
    """An integer leaf within ``[minimum, maximum]``."""
    def convert(value: Any, param: str) -> int:
        text = _scalar(value, param)
        if not re.fullmatch(r"-?\d+", text):
            raise errors.invalid(f"Invalid integer: {text}", param, "parameter_invalid_integer")
        number = int(text)
        if minimum is not None and number < minimum:
            raise errors.invalid(f"Invalid {param}: must be greater than or equal to {minimum}",
                                 param, "parameter_invalid_integer")
        if maximum is not None and number > maximum:
            raise errors.invalid(f"Invalid {param}: must be less than or equal to {maximum}",
                                 param, "parameter_invalid_integer")
        return number
    return convert


def boolean(value: Any, param: str) -> bool:
    """A ``true``/``false`` leaf."""
    text = _scalar(value, param)
    if text not in ("true", "false"):
        raise errors.invalid(f"Invalid boolean: {text}", param)
    return text == "true"


def enum(*choices: str) -> Leaf:
    """A leaf that must be one of ``choices``."""
    def convert(value: Any, param: str) -> str:
        text = _scalar(value, param)
        if text not in choices:
            listed = ", ".join(choices[:-1]) + (" or " if len(choices) > 1 else "") + choices[-1]
            raise errors.invalid(f"Invalid {param}: must be one of {listed}", param)
        return text
    return convert


def currency(value: Any, param: str) -> str:
    """A three-letter ISO currency code Stripe supports (lowercased, as Stripe does)."""
    code = _scalar(value, param).lower()
    if code not in CURRENCIES:
        raise errors.invalid(f"Invalid currency: {code}. Stripe currently supports these "
                             f"currencies: {', '.join(sorted(CURRENCIES))}", param)
    return code


def metadata(value: Any, param: str) -> dict[str, str]:
    """Stripe's metadata: up to 50 keys of 40 characters, values up to 500 characters."""
    if value == "":
        return {}
    if isinstance(value, list):
        value = {str(index): item for index, item in enumerate(value)}
    if not isinstance(value, dict):
        raise errors.invalid("Invalid hash: metadata must be a hash", param)
    if len(value) > 50:
        raise errors.invalid("Metadata can have up to 50 keys", param)
    for key, item in value.items():
        if len(key) > 40:
            raise errors.invalid(f"Metadata keys can be at most 40 characters ({key})", param)
        if len(_scalar(item, f"{param}[{key}]")) > 500:
            raise errors.invalid("Metadata values can be at most 500 characters",
                                 f"{param}[{key}]")
    return dict(value)


def range_filter(value: Any, param: str) -> dict[str, int]:
    """A ``created`` style filter: an exact timestamp or ``gt/gte/lt/lte`` bounds."""
    if isinstance(value, dict):
        bound = integer(minimum=0)
        return coerce(value, {key: bound for key in ("gt", "gte", "lt", "lte")}, param)
    return {"eq": integer(minimum=0)(value, param)}


def in_range(number: int, bounds: dict[str, int]) -> bool:
    """Whether ``number`` satisfies a ``range_filter`` result."""
    checks = {"eq": number.__eq__, "gt": number.__gt__, "gte": number.__ge__,
              "lt": number.__lt__, "lte": number.__le__}
    return all(checks[op](limit) for op, limit in bounds.items())


def require(params: dict[str, Any], *names: str) -> None:
    """Raise Stripe's ``parameter_missing`` for the first of ``names`` not present."""
    for name in names:
        if params.get(name) in (None, "", [], {}):
            raise errors.missing_param(name)


LIST = {"limit": integer(1, 100), "starting_after": string(), "ending_before": string(),
        "expand": [string()], "created": range_filter}
EXPAND = {"expand": [string()]}
