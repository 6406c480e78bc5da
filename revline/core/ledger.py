"""The append-only, hash-chained ledger: every decision, approval, effect and control change.

Each row's hash is SHA-256 over the canonical JSON of its fields and the previous row's hash, so
changing, removing or reordering any row breaks every hash after it. Database triggers refuse
UPDATE and DELETE; ``verify`` replays the chain from the first row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.core.jsonable import digest, iso_utc, jsonable
from revline.db.engine import Database
from revline.db.models import LedgerRow

GENESIS_HASH = "0" * 64
_HEAD_KEY = "revline_ledger_head"


def row_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    case_id: str | None,
    event_id: int | None,
    action_id: str | None,
    correlation_id: str | None,
    prior_state: str | None,
    post_state: str | None,
    detail: Mapping[str, Any],
    prev_hash: str,
) -> str:
    return digest(
        {
            "seq": seq,
            "at": iso_utc(at),
            "actor": actor,
            "kind": kind,
            "case_id": case_id,
            "event_id": event_id,
            "action_id": action_id,
            "correlation_id": correlation_id,
            "prior_state": prior_state,
            "post_state": post_state,
            "detail": detail,
            "prev_hash": prev_hash,
        }
    )


class Ledger:
    """Appends rows in the caller's transaction: a row exists exactly when its change does."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _head(self, session: Session) -> tuple[int, str]:
        transaction = session.get_transaction()
        cached = session.info.get(_HEAD_KEY)
        if cached is not None and cached[0] is transaction:
            return cached[1], cached[2]
        self.db.lock_ledger(session)
        last = session.execute(
            select(LedgerRow.seq, LedgerRow.hash).order_by(LedgerRow.seq.desc()).limit(1)
        ).first()
        return (last[0], last[1]) if last else (0, GENESIS_HASH)

    def append(
        self,
        session: Session,
        *,
        at: datetime,
        actor: str,
        kind: str,
        case_id: str | None = None,
        event_id: int | None = None,
        action_id: str | None = None,
        correlation_id: str | None = None,
        prior_state: str | None = None,
        post_state: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> LedgerRow:
        prev_seq, prev_hash = self._head(session)
        fields: dict[str, Any] = {
            "seq": prev_seq + 1,
            "at": at,
            "actor": actor,
            "kind": kind,
            "case_id": case_id,
            "event_id": event_id,
            "action_id": action_id,
            "correlation_id": correlation_id,
            "prior_state": prior_state,
            "post_state": post_state,
            "detail": jsonable(dict(detail or {})),
            "prev_hash": prev_hash,
        }
        row = LedgerRow(**fields, hash=row_hash(**fields))
        session.add(row)
        session.info[_HEAD_KEY] = (session.get_transaction(), row.seq, row.hash)
        return row


@dataclass(frozen=True)
class Anchor:
    """A row the ledger must still hold as it was, written down outside the database (``revline
    ledger verify`` prints the head): the chain alone cannot show rows cut off its end, or its
    tail rewritten with every hash recomputed; the row an anchor names can."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        seq, _, hash_ = text.strip().partition(":")
        if not seq.isdigit() or int(seq) < 1 or len(hash_) != 64:
            raise ValueError(
                f"an anchor is SEQ:HASH, a row's sequence number and its 64-character hash, "
                f"not {text!r}"
            )
        return cls(int(seq), hash_.lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head: Anchor | None = None  # the last row, to write down as the next anchor


def verify(session: Session, batch: int = 5000, anchor: Anchor | None = None) -> Verification:
    """Replay the chain; report the first row whose sequence, link or hash is wrong, or that is
    not the row ``anchor`` names, or that the chain ends before it."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for row in (
        session.execute(select(LedgerRow).order_by(LedgerRow.seq)).scalars().yield_per(batch)
    ):
        count += 1
        if anchor is not None and row.seq == anchor.seq and row.hash != anchor.hash:
            return Verification(
                False, count, row.seq, "not the row the anchor names: rewritten from here"
            )
        if row.seq != expected_seq:
            return Verification(
                False, count, row.seq, f"expected seq {expected_seq}: a row is missing"
            )
        if row.prev_hash != expected_prev:
            return Verification(False, count, row.seq, "prev_hash does not match the row before it")
        recomputed = row_hash(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            kind=row.kind,
            case_id=row.case_id,
            event_id=row.event_id,
            action_id=row.action_id,
            correlation_id=row.correlation_id,
            prior_state=row.prior_state,
            post_state=row.post_state,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
        if recomputed != row.hash:
            return Verification(False, count, row.seq, "hash does not match the row's contents")
        expected_prev = row.hash
        expected_seq += 1
    if anchor is not None and anchor.seq > count:
        return Verification(
            False,
            count,
            count + 1,
            f"the ledger ends at seq {count}, before the anchor's seq {anchor.seq}: rows were "
            "removed from its end",
        )
    return Verification(True, count, head=Anchor(count, expected_prev) if count else None)
