"""Stripe's own sample objects, the mould every simulated object is cast from.

``stripe_fixtures.json`` is a verbatim subset of Stripe's published ``fixtures3.json`` (the
``resources`` the simulator serves). Each simulated object starts as a deep copy of its resource's
sample and is then overridden, so it carries every field a real one of this API version does,
even those Revline never reads.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

RESOURCES = (
    "balance",
    "balance_transaction",
    "billing_portal.session",
    "charge",
    "checkout.session",
    "credit_note",
    "customer",
    "dispute",
    "event",
    "invoice",
    "invoice_payment",
    "payment_intent",
    "payout",
    "refund",
)
# Fields of the published samples that the current API no longer returns (PROVIDERS.md: an
# invoice names its subscription at parent.subscription_details.subscription, nowhere else).
REMOVED_FIELDS: dict[str, frozenset[str]] = {"invoice": frozenset({"subscription"})}


@cache
def _samples() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("stripe_fixtures.json").read_text("utf-8")
    samples: dict[str, dict[str, Any]] = json.loads(text)["resources"]
    return samples


def sample(resource: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's sample ``resource`` (e.g. ``"invoice"``), minus the fields
    the current API version removed."""
    obj = copy.deepcopy(_samples()[resource])
    for name in REMOVED_FIELDS.get(resource, ()):
        del obj[name]
    return obj
