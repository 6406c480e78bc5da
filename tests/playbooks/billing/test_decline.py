"""Retryable or hard, and the reason in plain language."""

from __future__ import annotations

import pytest

from revline.config import Policy
from revline.playbooks.billing.decline import DeclineKind, classify, is_fraud, plain_reason

POLICY = Policy()


@pytest.mark.parametrize(
    ("code", "decline_code", "kind"),
    [
        ("card_declined", "generic_decline", DeclineKind.RETRYABLE),
        ("card_declined", "insufficient_funds", DeclineKind.RETRYABLE),
        ("insufficient_funds", None, DeclineKind.RETRYABLE),
        ("card_declined", "lost_card", DeclineKind.HARD),
        ("card_declined", "stolen_card", DeclineKind.HARD),
        ("expired_card", None, DeclineKind.HARD),
        ("card_declined", "fraudulent", DeclineKind.HARD),
        ("processing_error", None, DeclineKind.UNKNOWN),
        (None, None, DeclineKind.UNKNOWN),
    ],
)
def test_classify(code: str | None, decline_code: str | None, kind: DeclineKind) -> None:
    assert classify(code, decline_code, POLICY) is kind


def test_the_lists_are_policy() -> None:
    policy = Policy(retryable_decline_codes=["processing_error"], hard_decline_codes=[])
    assert classify("processing_error", None, policy) is DeclineKind.RETRYABLE
    assert classify("card_declined", "lost_card", policy) is DeclineKind.UNKNOWN


@pytest.mark.parametrize(
    ("code", "decline_code", "reason"),
    [
        ("card_declined", "generic_decline", "the card on file was declined"),
        ("card_declined", None, "the card on file was declined"),
        (
            "card_declined",
            "insufficient_funds",
            "the card on file was declined for insufficient funds",
        ),
        ("expired_card", "expired_card", "the card on file has expired"),
        ("something_new", None, "the card on file was declined"),
    ],
)
def test_plain_reason(code: str, decline_code: str | None, reason: str) -> None:
    assert plain_reason(code, decline_code) == reason
    assert "_" not in plain_reason(code, decline_code)


def test_fraud() -> None:
    assert is_fraud("card_declined", "fraudulent")
    assert not is_fraud("card_declined", "generic_decline")
