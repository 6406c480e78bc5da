"""Pipeline exclusion on the NetSuite customer record, as the pipeline saved search sees it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.netsuite import NetSuiteAdapter, pipeline
from tests.providers.netsuite.conftest import Acme

# The criterion a finance team puts on its pipeline saved searches.
PIPELINE = (
    "SELECT c.id FROM customer c WHERE c.custentity_revline_pipeline_excluded = 'F' ORDER BY c.id"
)


def _run(handlers: Handlers, kind: str, params: dict[str, str], key: str) -> Mapping[str, Any]:
    handler = handlers.get(kind)
    assert handler is not None
    return handler(ActionRequest("act_1", kind, "cus_acme", params, key, 1))


def _pipeline(adapter: NetSuiteAdapter) -> list[str]:
    return [row["id"] for row in adapter.suiteql(PIPELINE)]


def test_excluded_while_in_dunning_and_back_once_paid(
    adapter: NetSuiteAdapter, acme: Acme, handlers: Handlers
) -> None:
    pipeline.register(handlers, adapter)
    assert acme.customer in _pipeline(adapter)
    params = {"customer": "cus_acme", "reason": "dunning"}
    excluded = _run(handlers, pipeline.EXCLUDE, params, "k1")
    assert excluded == {"customer": acme.customer, "excluded": True, "reason": "dunning"}
    assert acme.customer not in _pipeline(adapter)
    # Again with the same key (an executor retry): the same state, no error.
    assert _run(handlers, pipeline.EXCLUDE, params, "k1") == excluded
    included = _run(handlers, pipeline.INCLUDE, {"customer": "cus_acme"}, "k2")
    assert included == {"customer": acme.customer, "excluded": False, "reason": None}
    assert acme.customer in _pipeline(adapter)


def test_an_exclusion_without_a_reason_is_refused(
    adapter: NetSuiteAdapter, acme: Acme, handlers: Handlers
) -> None:
    pipeline.register(handlers, adapter)
    with pytest.raises(ProviderError) as refused:
        _run(handlers, pipeline.EXCLUDE, {"customer": "cus_acme"}, "k3")
    assert not refused.value.retryable
    assert acme.customer in _pipeline(adapter)
