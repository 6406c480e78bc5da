"""Stripe's v1 request parameters: form-encoded, nested with brackets.

``metadata[plan]=pro`` is ``{"metadata": {"plan": "pro"}}``; ``expand[]=data.source`` appends to
a list; ``types[0]=a&types[1]=b`` (how the SDK sends lists) is ``{"types": ["a", "b"]}``. Every
leaf stays a string: each endpoint converts and validates the values it accepts.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from revline.providers.stripe.sim.errors import invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _parts(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_PART.findall(match.group(2))]


def parse_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nest ``(key, value)`` pairs by their brackets; refuses keys that contradict each other."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _parts(key)
        node: dict[str, Any] | list[Any] = root
        for part, following in itertools.pairwise(parts):
            if part == "" or isinstance(node, list):
                raise invalid(f"Invalid array parameter: {key}", param=key)
            child = node.get(part)
            if child is None:
                child = [] if following == "" else {}
                node[part] = child
            if not isinstance(child, dict | list) or (following == "") != isinstance(child, list):
                raise invalid(f"Invalid parameter: {key} conflicts with another", param=key)
            node = child
        last = parts[-1]
        if isinstance(node, list):
            node.append(value)
        elif last in node:
            raise invalid(f"Received the parameter {key} more than once", param=key)
        else:
            node[last] = value
    nested: dict[str, Any] = _indexed_lists(root)
    return nested


def _indexed_lists(value: Any) -> Any:
    """``{"0": a, "1": b}`` becomes ``[a, b]``: the SDK's ``types[0]=`` encoding of a list."""
    if isinstance(value, list):
        return [_indexed_lists(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _indexed_lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
