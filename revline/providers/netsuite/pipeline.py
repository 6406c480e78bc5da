"""Pipeline exclusion: the mark on a NetSuite customer record that the pipeline reports skip.

Seed 000 has the FP&A analyst "exit the customer from the new pipeline reports until the dunning
resolves". NetSuite reports are saved searches, so the exclusion lives where every search can
filter on it: two custom entity fields on the customer record, the checkbox
``custentity_revline_pipeline_excluded`` and the free-form ``custentity_revline_pipeline_reason``
(``dunning``). The pipeline saved searches carry the criterion "Revline Pipeline Excluded is
false". Setting or clearing the fields is a REST PATCH of the customer, naturally idempotent;
the record is read back so the action is confirmed by what NetSuite holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.providers.base import ActionRequest, Handlers
from revline.providers.netsuite import errors
from revline.providers.netsuite.client import NetSuiteAdapter

EXCLUDE = "netsuite.customer.exclude_from_pipeline"
INCLUDE = "netsuite.customer.include_in_pipeline"
EXCLUDED_FIELD = "custentity_revline_pipeline_excluded"
REASON_FIELD = "custentity_revline_pipeline_reason"


def set_exclusion(
    adapter: NetSuiteAdapter, reference: str, reason: str | None, *, idempotency_key: str
) -> Mapping[str, Any]:
    """Exclude the customer (``reason`` given) or include it again (``reason`` None); returns
    the customer's fields as NetSuite then holds them."""
    customer = adapter.resolve_customer(reference)
    adapter.update_record(
        "customer",
        customer.id,
        {EXCLUDED_FIELD: reason is not None, REASON_FIELD: reason or ""},
        idempotency_key=idempotency_key,
    )
    record = adapter.get_record("customer", customer.id)
    excluded = bool(record.get(EXCLUDED_FIELD))
    if excluded != (reason is not None):
        raise errors.unavailable(
            f"NetSuite did not keep {EXCLUDED_FIELD}={reason is not None} on customer {customer.id}"
        )
    return {
        "customer": customer.id,
        "excluded": excluded,
        "reason": record.get(REASON_FIELD) or None,
    }


def register(handlers: Handlers, adapter: NetSuiteAdapter) -> None:
    """``netsuite.customer.exclude_from_pipeline`` {customer, reason} and
    ``netsuite.customer.include_in_pipeline`` {customer}."""

    def exclude(request: ActionRequest) -> Mapping[str, Any]:
        reason = request.params.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise errors.refused("params.reason must be a non-empty string")
        return set_exclusion(
            adapter, _customer(request), reason.strip(), idempotency_key=request.idempotency_key
        )

    def include(request: ActionRequest) -> Mapping[str, Any]:
        return set_exclusion(
            adapter, _customer(request), None, idempotency_key=request.idempotency_key
        )

    handlers.register(EXCLUDE, exclude)
    handlers.register(INCLUDE, include)


def _customer(request: ActionRequest) -> str:
    customer = request.params.get("customer")
    if not isinstance(customer, str) or not customer.strip():
        raise errors.refused("params.customer must be a non-empty string")
    return customer.strip()
