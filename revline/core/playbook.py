"""The playbook interface: pure decisions over an enriched snapshot.

A playbook says which case an event concerns (``case_for``), gathers what it needs to know
(``enrich``, the only part allowed to read providers, and never inside a transaction), and decides
(``decide``: pure, no I/O, no clock but ``now``). The router does everything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from revline.clock import Clock, WorkingCalendar
from revline.config import Company, Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.scheduler import DailyAt


class Keep(Enum):
    """Leave a case field as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class CaseRef:
    """Which case an event concerns: the subject (one invoice, one payout) and its customer."""

    subject: str
    customer: str | None = None
    correlation_id: str | None = None
    # False for events that only advance a case already open (a payment that settles an invoice
    # in dunning): without such a case the event concerns nobody, and no case is opened for it.
    opens: bool = True
    # For an event about the customer rather than one subject (a new card saved): it decides
    # nothing itself but brings the timer of the customer's open cases in these states forward
    # to now, so each decides at once on what the providers hold.
    wakes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Trigger:
    """Why a decision is being made: an event arrived, a case's timer fell due, or a person."""

    kind: str  # "event" | "timer" | "manual" | "action"
    at: datetime
    event: EventView | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """The enriched snapshot a decision is made on."""

    trigger: Trigger
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


@dataclass(frozen=True)
class ActionSpec:
    """One intended side effect.

    ``attempt`` distinguishes deliberate repeats of the same effect on the same subject (the
    second manual retry of an invoice); it is part of the idempotency key, so deciding the same
    thing twice yields one action.

    ``supersedes``: the effect stands for the subject's latest state, so proposing it under a
    new key (a payout's deposit composed again with other lines) cancels the playbook's actions
    of the same kind and subject still pending under other keys: only the latest can take effect.
    """

    kind: str
    subject: str
    params: Mapping[str, Any] = field(default_factory=dict)
    attempt: int | str = 1
    not_before: datetime | None = None
    requires_role: str | None = None
    approval_reason: str | None = None
    irreversible: bool = False
    supersedes: bool = False


@dataclass(frozen=True)
class Withdrawal:
    """An effect the playbook proposed that no longer stands: its actions of ``kind`` on
    ``subject`` not yet started, from any of its cases and under any key, are cancelled with
    ``reason``. A payout's deposit once the bank has returned the payout, say: the money never
    reached the bank account the deposit would book it to."""

    kind: str
    subject: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """What a playbook chose, and in a sentence why: the explanation goes to the ledger."""

    explanation: str
    state: str | None = None
    actions: tuple[ActionSpec, ...] = ()
    next_action_at: datetime | Keep | None = KEEP
    cancel_pending: str | None = None
    withdraw: tuple[Withdrawal, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] | Keep = KEEP
    queue: str | Keep | None = KEEP
    # Events that disagreed (a failure after the payment that settled it, say): the decision
    # keeps the true final state, and the disagreement is counted in revline_contradictions_total.
    contradiction: bool = False


@dataclass(frozen=True)
class Enrichment:
    """What ``enrich`` may read: provider adapters, the calendar, the clock. Never the database.

    ``adapters`` maps a provider name (``stripe``, ``netsuite``, ``ramp``, ``mail``) to its
    adapter; a playbook's ``enrich`` asks only for the capabilities it declares it needs.
    """

    clock: Clock
    calendar: WorkingCalendar
    company: Company
    adapters: Mapping[str, Any] = field(default_factory=dict)


class Playbook(ABC):
    """A procedure. Subclasses set ``name`` and ``case_kind`` and implement the two methods."""

    name: ClassVar[str]
    case_kind: ClassVar[CaseKind]
    # When True, each of the case's actions that is applied or fails comes back to ``decide`` as
    # a trigger of kind "action" (its event carries the action's kind, status and result).
    follows_outcomes: ClassVar[bool] = False

    def schedules(self, policy: Policy) -> list[DailyAt]:
        """Daily procedures this playbook runs on (each arrives as a ``schedule.<name>`` event
        from source ``schedule``); none by default."""
        return []

    @abstractmethod
    def case_for(self, event: EventView) -> CaseRef | None:
        """The case this event opens or advances, or None if the playbook has no interest."""

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        """Gather what the decision needs. The default knows only the trigger."""
        return Facts(trigger)

    @abstractmethod
    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        """Pure: the same inputs always give the same decision."""


class PlaybookRegistry:
    """Playbooks by name."""

    def __init__(self, playbooks: list[Playbook] | None = None) -> None:
        self._by_name: dict[str, Playbook] = {}
        for playbook in playbooks or []:
            self.register(playbook)

    def register(self, playbook: Playbook) -> None:
        if playbook.name in self._by_name:
            raise ValueError(f"a playbook named {playbook.name!r} is already registered")
        self._by_name[playbook.name] = playbook

    def get(self, name: str) -> Playbook | None:
        return self._by_name.get(name)

    def all(self) -> list[Playbook]:
        return list(self._by_name.values())

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def case_kind(self, kind: str) -> CaseKind | None:
        for playbook in self._by_name.values():
            if playbook.case_kind.name == kind:
                return playbook.case_kind
        return None
