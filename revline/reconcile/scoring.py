"""The scored tier: email and name similarity (rapidfuzz) and invoice-number references.

Runs on the residue the exact and tolerance tiers left, already blocked by DuckDB to pairs of
the same currency and a near amount and date (or a quoted invoice number), so it scores a few
candidates per entry, not a cross product. A scored candidate is a proposal; it is applied
without a person only when it is the one candidate carrying an exact piece of evidence (the same
email, or the invoice number quoted), scores at least ``min_score``, leads the next candidate by
``auto_margin``, and is nobody else's best candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from revline.reconcile.entries import MatchStatus

EMAIL_WEIGHT = 0.45
NAME_WEIGHT = 0.25
REFERENCE_WEIGHT = 0.2
AMOUNT_WEIGHT = 0.1


@dataclass(frozen=True)
class Candidate:
    left: str
    right: str
    left_email: str | None
    right_email: str | None
    left_name: str | None
    right_name: str | None
    reference_hit: bool
    same_amount: bool

    @property
    def same_email(self) -> bool:
        return bool(self.left_email) and canonical_email(self.left_email) == canonical_email(
            self.right_email
        )

    @property
    def exact_evidence(self) -> bool:
        return self.same_email or self.reference_hit

    def score(self) -> float:
        email = _similarity(canonical_email(self.left_email), canonical_email(self.right_email))
        name = (
            fuzz.token_sort_ratio(self.left_name.lower(), self.right_name.lower()) / 100
            if self.left_name and self.right_name
            else 0.0
        )
        return round(
            EMAIL_WEIGHT * email
            + NAME_WEIGHT * name
            + REFERENCE_WEIGHT * self.reference_hit
            + AMOUNT_WEIGHT * self.same_amount,
            4,
        )

    def evidence(self) -> str:
        found = []
        if self.same_email:
            found.append("same email")
        if self.reference_hit:
            found.append("invoice number quoted")
        if self.same_amount:
            found.append("same amount")
        return ", ".join(found) or "similar email or name only"


@dataclass(frozen=True)
class Scored:
    left: str
    status: MatchStatus
    rights: tuple[str, ...]
    reason: str
    score: float


def canonical_email(email: str | None) -> str:
    """Lower case, without a ``+tag``: the same mailbox however it was typed."""
    if not email or "@" not in email:
        return (email or "").strip().lower()
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _similarity(a: str, b: str) -> float:
    return fuzz.ratio(a, b) / 100 if a and b else 0.0


def decide(
    candidates: Sequence[Candidate], *, auto_margin: float, min_score: float
) -> list[Scored]:
    """One outcome per left entry that has candidates scoring at least ``min_score`` or
    carrying exact evidence; entries left out stay unmatched."""
    by_left: dict[str, list[tuple[float, Candidate]]] = defaultdict(list)
    for candidate in candidates:
        by_left[candidate.left].append((candidate.score(), candidate))
    best_of_right: dict[str, list[str]] = defaultdict(list)
    ranked: dict[str, list[tuple[float, Candidate]]] = {}
    for left, scored in by_left.items():
        scored.sort(key=lambda item: (-item[0], item[1].right))
        ranked[left] = scored
        best_of_right[scored[0][1].right].append(left)
    outcomes = []
    for left, scored in ranked.items():
        top_score, top = scored[0]
        if top_score < min_score and not top.exact_evidence:
            continue
        runner_up = scored[1][0] if len(scored) > 1 else 0.0
        with_evidence = [c for _, c in scored if c.exact_evidence]
        auto = (
            top.exact_evidence
            and len(with_evidence) == 1
            and top_score >= min_score
            and top_score - runner_up >= auto_margin
            and len(best_of_right[top.right]) == 1
        )
        reason = f"scored {top_score:.2f} ({top.evidence()}), next candidate {runner_up:.2f}" + (
            "" if auto else "; a person confirms"
        )
        status = MatchStatus.MATCHED if auto else MatchStatus.PROPOSED
        outcomes.append(Scored(left, status, (top.right,), reason, top_score))
    return outcomes
