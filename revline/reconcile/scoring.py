"""The scored tier's evidence for one candidate pair: email and name similarity (rapidfuzz),
an invoice-number reference, the same amount.

Runs on the residue the exact and tolerance tiers left, already blocked by DuckDB to pairs of
the same currency and a near amount and date (or a quoted invoice number), so it scores a few
candidates per entry, not a cross product. Ranking the candidates and deciding which are applied
is the engine's (DuckDB); a pair's score and whether it carries exact evidence are decided here.
"""

from __future__ import annotations

from rapidfuzz import fuzz

EMAIL_WEIGHT = 0.45
NAME_WEIGHT = 0.25
REFERENCE_WEIGHT = 0.2
AMOUNT_WEIGHT = 0.1


def canonical_email(email: str | None) -> str:
    """Lower case, without a ``+tag``: the same mailbox however it was typed."""
    if not email or "@" not in email:
        return (email or "").strip().lower()
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def assess(
    left_email: str | None,
    right_email: str | None,
    left_name: str | None,
    right_name: str | None,
    reference_hit: bool,
    same_amount: bool,
) -> tuple[float, bool]:
    """How alike two records are (0..1, to four places), and whether they share a mailbox
    (exact evidence, as a quoted invoice number is)."""
    left, right = canonical_email(left_email), canonical_email(right_email)
    email = fuzz.ratio(left, right) / 100 if left and right else 0.0
    name = (
        fuzz.token_sort_ratio(left_name.lower(), right_name.lower()) / 100
        if left_name and right_name
        else 0.0
    )
    score = round(
        EMAIL_WEIGHT * email
        + NAME_WEIGHT * name
        + REFERENCE_WEIGHT * reference_hit
        + AMOUNT_WEIGHT * same_amount,
        4,
    )
    return score, bool(left_email) and left == right
