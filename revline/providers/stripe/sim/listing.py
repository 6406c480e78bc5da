"""Stripe's list and search answers: newest first, cursor pages, range filters, search queries.

A list is ``{object: "list", data, has_more, url}``; ``starting_after`` pages towards older
objects and ``ending_before`` towards newer ones, each page still newest first. A search is
``{object: "search_result", data, has_more, next_page, url}`` with an opaque page token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from revline.providers.stripe.sim.errors import invalid

Obj = dict[str, Any]
PAGE_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand"})
SEARCH_PARAMS = frozenset({"query", "limit", "page", "expand"})


def integer(params: Obj, name: str, value: object = None) -> int:
    """A parameter that must be an integer (Stripe: "Invalid integer: x")."""
    raw = params.get(name) if value is None else value
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    raise invalid(f"Invalid integer: {raw}", param=name)


def boolean(params: Obj, name: str) -> bool:
    raw = params.get(name)
    if raw in ("true", "false"):
        return bool(raw == "true")
    raise invalid(f"Invalid boolean: {raw}", param=name)


def limit_of(params: Obj) -> int:
    if "limit" not in params:
        return 10
    limit = integer(params, "limit")
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100 (inclusive)", param="limit")
    return limit


Position = Callable[[str], int | None]


def page(
    items_newest_first: Sequence[Obj],
    params: Obj,
    url: str,
    resource: str,
    position: Position,
) -> Obj:
    """One cursor page of ``items_newest_first``.

    ``position`` places an id in the account's order of creation (None: no such object). A
    cursor is a place in that order, so it need not match the list's filters, as in Stripe.
    """
    limit = limit_of(params)
    after = params.get("starting_after")
    before = params.get("ending_before")
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: starting_after, ending_before."
        )
    if after:
        mark = _cursor(position, after, "starting_after", resource)
        rest = [item for item in items_newest_first if _at(position, item) < mark]
        data, has_more = rest[:limit], len(rest) > limit
    elif before:
        mark = _cursor(position, before, "ending_before", resource)
        newer = [item for item in items_newest_first if _at(position, item) > mark]
        data, has_more = newer[-limit:], len(newer) > limit
    else:
        data, has_more = list(items_newest_first[:limit]), len(items_newest_first) > limit
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _at(position: Position, item: Obj) -> int:
    place = position(item["id"])
    assert place is not None, f"{item['id']} is listed but has no place"
    return place


def _cursor(position: Position, cursor: object, param: str, resource: str) -> int:
    place = position(cursor) if isinstance(cursor, str) else None
    if place is None:
        raise invalid(f"No such {resource}: '{cursor}'", param=param, code="resource_missing")
    return place


def time_filter(params: Obj, name: str) -> Callable[[int], bool]:
    """``created=123`` or ``created[gte]=…&created[lt]=…`` as a predicate on unix seconds."""
    raw = params.get(name)
    if raw is None:
        return lambda _value: True
    if isinstance(raw, str):
        exact = integer(params, name)
        return lambda value: value == exact
    if not isinstance(raw, dict) or not raw or not set(raw) <= {"gt", "gte", "lt", "lte"}:
        raise invalid(f"Invalid {name}: use an integer or gt, gte, lt, lte", param=name)
    bounds = {op: integer(raw, op, raw[op]) for op in raw}

    def within(value: int) -> bool:
        return (
            ("gt" not in bounds or value > bounds["gt"])
            and ("gte" not in bounds or value >= bounds["gte"])
            and ("lt" not in bounds or value < bounds["lt"])
            and ("lte" not in bounds or value <= bounds["lte"])
        )

    return within


@dataclass(frozen=True)
class Clause:
    """One term of a search query: ``field:'value'`` (exact) or ``field~'value'`` (substring),
    both case-insensitive; ``metadata['key']`` names a metadata field."""

    field: str
    metadata_key: str | None
    operator: str
    value: str

    def matches(self, obj: Obj) -> bool:
        if self.metadata_key is not None:
            actual = (obj.get("metadata") or {}).get(self.metadata_key)
        else:
            actual = obj.get(self.field)
        if not isinstance(actual, str):
            return False
        if self.operator == ":":
            return actual.lower() == self.value.lower()
        return self.value.lower() in actual.lower()


_CLAUSE = re.compile(
    r"""\s*(?P<field>[a-z_]+)(?:\['(?P<key>[^']+)'\])?\s*(?P<op>[:~])\s*
        '(?P<value>(?:[^'\\]|\\.)*)'\s*""",
    re.VERBOSE,
)


def parse_query(query: str, fields: frozenset[str]) -> tuple[list[Clause], bool]:
    """Clauses and whether they are joined by OR (else AND); Stripe forbids mixing the two."""
    parts = re.split(r"\s+(AND|OR)\s+", query.strip())
    joiners = set(parts[1::2])
    if len(joiners) > 1:
        raise invalid("Search queries cannot mix AND and OR.", param="query")
    clauses: list[Clause] = []
    for text in parts[0::2]:
        match = _CLAUSE.fullmatch(text)
        if match is None or (match["field"] not in fields and match["field"] != "metadata"):
            raise invalid(f"Invalid search query: {query!r} near {text!r}", param="query")
        if (match["field"] == "metadata") != (match["key"] is not None):
            raise invalid(f"Invalid search query: {query!r} near {text!r}", param="query")
        value = re.sub(r"\\(.)", r"\1", match["value"])
        clauses.append(Clause(match["field"], match["key"], match["op"], value))
    return clauses, joiners == {"OR"}


def search(items_newest_first: Sequence[Obj], params: Obj, url: str, fields: frozenset[str]) -> Obj:
    """A search result page; ``page`` is the ``next_page`` token of the page before."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise invalid("Missing required param: query.", param="query")
    clauses, any_of = parse_query(query, fields)
    combine = any if any_of else all
    found = [obj for obj in items_newest_first if combine(c.matches(obj) for c in clauses)]
    limit = limit_of(params)
    token = params.get("page")
    start = 0
    if token is not None:
        if not isinstance(token, str) or not re.fullmatch(r"page_\d+", token):
            raise invalid(f"Invalid page: {token}", param="page")
        start = int(token.removeprefix("page_"))
    data = found[start : start + limit]
    has_more = len(found) > start + limit
    return {
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": f"page_{start + limit}" if has_more else None,
        "url": url,
    }
