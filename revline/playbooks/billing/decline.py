"""Why a charge failed, in two readings: whether to retry it, and how to say it to a person.

Stripe reports a failure as a ``failure_code`` (``card_declined``, ``expired_card``…) and, for
issuer declines, a ``decline_code`` (``insufficient_funds``, ``lost_card``, ``fraudulent``…).
Which codes are worth retrying and which are not is policy (``retryable_decline_codes``,
``hard_decline_codes``); a hard code wins over a retryable one, since retrying a stolen card
only adds failed charges.
"""

from __future__ import annotations

from enum import StrEnum

from revline.config import Policy

GENERIC = frozenset({None, "", "generic_decline", "card_declined"})

# What the customer reads. Never the code itself: "the card on file was declined" lands better
# than "card_declined error" (seed 002, step 5).
PLAIN_REASONS: dict[str, str] = {
    "card_declined": "the card on file was declined",
    "generic_decline": "the card on file was declined",
    "do_not_honor": "the card on file was declined by the bank",
    "insufficient_funds": "the card on file was declined for insufficient funds",
    "expired_card": "the card on file has expired",
    "lost_card": "the card on file was reported lost and can no longer be charged",
    "stolen_card": "the card on file was reported stolen and can no longer be charged",
    "pickup_card": "the bank asked us not to charge the card on file again",
    "restricted_card": "the bank has restricted the card on file",
    "fraudulent": "the bank declined the card on file",
    "incorrect_cvc": "the card's security code did not match",
    "processing_error": "the bank could not process the payment",
    "authentication_required": "the bank asked for the payment to be confirmed by the cardholder",
}
DEFAULT_REASON = "the card on file was declined"


class DeclineKind(StrEnum):
    RETRYABLE = "retryable"  # worth another try later: the card itself is fine
    HARD = "hard"  # no retries: the customer has to give us another card
    UNKNOWN = "unknown"  # a code policy does not name: a person decides


def classify(code: str | None, decline_code: str | None, policy: Policy) -> DeclineKind:
    """Retryable, hard or unknown by the policy lists; a hard code in either field wins."""
    codes = {c for c in (code, decline_code) if c}
    if codes & set(policy.hard_decline_codes):
        return DeclineKind.HARD
    if codes & set(policy.retryable_decline_codes):
        return DeclineKind.RETRYABLE
    return DeclineKind.UNKNOWN


def is_fraud(code: str | None, decline_code: str | None) -> bool:
    """The issuer suspects fraud: a person looks at the case before anyone contacts anyone."""
    return "fraudulent" in (code, decline_code)


def plain_reason(code: str | None, decline_code: str | None) -> str:
    """The failure in plain language, from the most specific code there is."""
    specific = decline_code if decline_code not in GENERIC else code
    return PLAIN_REASONS.get(specific or "", PLAIN_REASONS.get(code or "", DEFAULT_REASON))
