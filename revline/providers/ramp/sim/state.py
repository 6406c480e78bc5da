"""The simulated Ramp business: people, the chart of accounts, transactions, decisions, cards.

``RampState`` is the sandbox's Python API. The sandbox (and tests) seed it — departments, users,
GL accounts, vendors, transactions — and read back what Revline did through the HTTP API:
decisions, memos, cards. The HTTP app in ``app.py`` serves the same state in Ramp's wire shapes.

Everything is kept as Ramp's wire JSON (legacy amounts as ``Decimal`` major units), so what
the API serves and what the read-back methods return (parsed with the adapter's own records)
cannot drift apart. One re-entrant lock guards it all: the HTTP server thread and the sandbox
thread both call in. Ids come from a seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from revline.clock import Clock, to_utc
from revline.providers.ramp import wire
from revline.providers.ramp.records import (
    GL_ACCOUNT,
    Card,
    CardTaskStatus,
    Department,
    GLAccount,
    Receipt,
    ReviewDecision,
    Transaction,
    User,
    Vendor,
)

ReceiptQuality = Literal["legible", "illegible", "none"]

# How the simulator flags receipt problems on a transaction. Ramp's policy-violation type names
# are unverified; the spend playbooks read these two.
MISSING_RECEIPT = "MISSING_RECEIPT"
RECEIPT_ILLEGIBLE = "RECEIPT_ILLEGIBLE"

AWAITING_REVIEWER = "AWAITING_REVIEWER"
FULLY_APPROVED = "FULLY_APPROVED"
REJECTED = "REJECTED"

READY_FOR_REVIEW = "transactions.ready_for_review"


class SimError(Exception):
    """A request the simulated Ramp refuses, answered as an ``error_v2`` body."""

    def __init__(
        self, status: int, code: str, message: str, info: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.info = dict(info or {})


@dataclass(frozen=True)
class Review:
    """A spend decision the simulated Ramp recorded (one per effect, never per request)."""

    transaction_id: str
    decision: ReviewDecision
    reason: str | None
    gl_code: str | None
    at: datetime
    client_id: str


@dataclass(frozen=True)
class Subscription:
    """A webhook endpoint registered through ``POST /webhooks``."""

    id: str
    endpoint_url: str
    event_types: tuple[str, ...]
    secret: str


EventListener = Callable[[Mapping[str, Any]], None]


class RampState:
    """A seedable, thread-safe Ramp business on an injected clock."""

    def __init__(self, clock: Clock, seed: int = 0, currency: str = "USD") -> None:
        self.clock = clock
        self.currency = currency.upper()
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self.business_id = self.new_id()
        self._departments: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._gl_accounts: dict[str, dict[str, Any]] = {}
        self._vendors: dict[str, dict[str, Any]] = {}
        self._transactions: dict[str, dict[str, Any]] = {}
        self._updated_at: dict[str, datetime] = {}
        self._receipts: dict[str, dict[str, Any]] = {}
        self._memos: dict[str, list[str]] = {}
        self._reviews: list[Review] = []
        self._tasks: dict[str, dict[str, Any]] = {}
        self._task_requests: dict[str, tuple[dict[str, Any], str]] = {}
        self._cards: dict[str, dict[str, Any]] = {}
        self._subscriptions: list[Subscription] = []
        self._events: list[dict[str, Any]] = []
        self._listeners: list[EventListener] = []

    @property
    def lock(self) -> AbstractContextManager[bool]:
        """The state's re-entrant lock, for callers that need several steps to be one."""
        return self._lock

    # -- ids and events ----------------------------------------------------------------------

    def new_id(self) -> str:
        """A UUID from the seeded generator (Ramp's ids are UUIDs)."""
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def random_hex(self, length: int) -> str:
        with self._lock:
            return f"{self._rng.getrandbits(length * 4):0{length}x}"

    def on_event(self, listener: EventListener) -> None:
        """Call ``listener`` with every webhook event the business emits from now on."""
        with self._lock:
            self._listeners.append(listener)

    def _emit(self, event_type: str, object_id: str) -> None:
        event = {
            "id": self.new_id(),
            "type": event_type,
            "created_at": self.clock.now().isoformat(),
            "business_id": self.business_id,
            "object": {"id": object_id},
        }
        self._events.append(event)
        for listener in self._listeners:
            listener(event)

    # -- seeding (the sandbox's API) ---------------------------------------------------------

    def add_department(self, name: str) -> Department:
        with self._lock:
            department: dict[str, Any] = {"id": self.new_id(), "name": name}
            self._departments[department["id"]] = department
            return Department.from_wire(department)

    def add_user(
        self,
        first_name: str,
        last_name: str,
        email: str,
        *,
        department_id: str | None = None,
        role: str = "BUSINESS_USER",
        manager_id: str | None = None,
    ) -> User:
        """A user; naming a ``manager_id`` makes that user a manager (a team owner)."""
        with self._lock:
            if department_id is not None:
                self._get(self._departments, department_id, "department")
            if manager_id is not None:
                self._get(self._users, manager_id, "user")["is_manager"] = True
            user: dict[str, Any] = {
                "id": self.new_id(),
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "role": role,
                "department_id": department_id,
                "manager_id": manager_id,
                "is_manager": False,
                "status": "USER_ACTIVE",
            }
            self._users[user["id"]] = user
            return User.from_wire(user)

    def deactivate_user(self, user_id: str) -> None:
        """A user who left: card requests for them fail, as in Ramp."""
        with self._lock:
            self._get(self._users, user_id, "user")["status"] = "USER_SUSPENDED"

    def add_gl_account(self, code: str, name: str, classification: str = "EXPENSE") -> GLAccount:
        with self._lock:
            account: dict[str, Any] = {
                "id": self.new_id(),
                "name": name,
                "code": code,
                "classification": classification,
            }
            self._gl_accounts[account["id"]] = account
            return GLAccount.from_wire(account)

    def add_vendor(self, name: str) -> Vendor:
        """The vendor called ``name`` (case-insensitively), created if new."""
        with self._lock:
            wanted = name.strip().casefold()
            for vendor in self._vendors.values():
                if vendor["name"].strip().casefold() == wanted:
                    return Vendor.from_wire(vendor)
            created: dict[str, Any] = {"id": self.new_id(), "name": name.strip()}
            self._vendors[created["id"]] = created
            return Vendor.from_wire(created)

    def add_transaction(
        self,
        user_id: str,
        merchant: str,
        amount: int,
        *,
        receipt: ReceiptQuality = "legible",
        line_items: Sequence[Mapping[str, Any]] = (),
        memo: str | None = None,
        category: str | None = None,
        at: datetime | None = None,
        state: str = "CLEARED",
    ) -> Transaction:
        """A card transaction awaiting review; emits ``transactions.ready_for_review``.

        ``amount`` is minor units of the business currency. ``line_items`` are
        ``{"amount": minor units, "memo": str}`` and must add up to ``amount``. ``receipt``:
        ``legible`` attaches a receipt; ``illegible`` attaches one and flags
        ``RECEIPT_ILLEGIBLE``; ``none`` attaches nothing and flags ``MISSING_RECEIPT``.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("a transaction amount is a positive int of minor units")
        if receipt not in ("legible", "illegible", "none"):
            raise ValueError("receipt is one of legible, illegible, none")
        items = [self._line_item(item) for item in line_items]
        if items and sum(item["amount"]["amount"] for item in items) != amount:
            raise ValueError("line items must add up to the transaction amount")
        with self._lock:
            user = self._get(self._users, user_id, "user")
            department = self._departments.get(user["department_id"] or "")
            vendor = self.add_vendor(merchant)
            when = to_utc(at) if at is not None else self.clock.now()
            transaction_id = self.new_id()
            receipts: list[str] = []
            violations: list[dict[str, Any]] = []
            if receipt in ("legible", "illegible"):
                receipts.append(self._attach_receipt(transaction_id, user_id, when))
            if receipt == "illegible":
                violations.append(self._violation(RECEIPT_ILLEGIBLE, "the receipt is unreadable"))
            elif receipt == "none":
                violations.append(self._violation(MISSING_RECEIPT, "no receipt was uploaded"))
            self._transactions[transaction_id] = {
                "id": transaction_id,
                "amount": wire.to_major(amount, self.currency),
                "currency_code": self.currency,
                "original_transaction_amount": {"amount": amount, "currency_code": self.currency},
                "state": state,
                "user_transaction_time": when.isoformat(),
                "card_holder": {
                    "user_id": user["id"],
                    "first_name": user["first_name"],
                    "last_name": user["last_name"],
                    "department_id": user["department_id"],
                    "department_name": department["name"] if department else None,
                },
                "merchant_id": vendor.id,
                "merchant_name": vendor.name,
                "sk_category_name": category,
                "memo": memo,
                "receipts": receipts,
                "line_items": items,
                "policy_violations": violations,
                "accounting_field_selections": [],
                "approval_status": AWAITING_REVIEWER,
                "sync_status": "NOT_SYNC_READY",
            }
            self._touch(transaction_id)
            self._emit(READY_FOR_REVIEW, transaction_id)
            return Transaction.from_wire(self._transactions[transaction_id])

    def attach_receipt(self, transaction_id: str) -> Receipt:
        """The cardholder uploads a legible receipt: the receipt flags on the transaction clear."""
        with self._lock:
            transaction = self._get(self._transactions, transaction_id, "transaction")
            receipt_id = self._attach_receipt(
                transaction_id, transaction["card_holder"]["user_id"], self.clock.now()
            )
            transaction["receipts"].append(receipt_id)
            transaction["policy_violations"] = [
                v
                for v in transaction["policy_violations"]
                if v["type"] not in (MISSING_RECEIPT, RECEIPT_ILLEGIBLE)
            ]
            self._touch(transaction_id)
            return Receipt.from_wire(self._receipts[receipt_id])

    def _attach_receipt(self, transaction_id: str, user_id: str, when: datetime) -> str:
        receipt_id = self.new_id()
        self._receipts[receipt_id] = {
            "id": receipt_id,
            "transaction_id": transaction_id,
            "user_id": user_id,
            "receipt_url": f"https://receipts.ramp-sim.invalid/{receipt_id}.jpg",
            "created_at": when.isoformat(),
        }
        return receipt_id

    def _violation(self, kind: str, memo: str) -> dict[str, Any]:
        return {
            "id": self.new_id(),
            "type": kind,
            "memo": memo,
            "created_at": self.clock.now().isoformat(),
        }

    def _line_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        amount = item.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("a line item's amount is an int of minor units")
        return {
            "amount": {"amount": amount, "currency_code": self.currency},
            "memo": item.get("memo"),
            "accounting_field_selections": [],
        }

    # -- read-back (assertions and the sandbox's report) -------------------------------------

    def transaction(self, transaction_id: str) -> Transaction:
        with self._lock:
            data = self._get(self._transactions, transaction_id, "transaction")
            return Transaction.from_wire(data)

    def transactions(self) -> list[Transaction]:
        with self._lock:
            return [Transaction.from_wire(data) for data in self._transactions.values()]

    def reviews(self, transaction_id: str | None = None) -> list[Review]:
        """Decisions recorded, oldest first (a replayed request adds none)."""
        with self._lock:
            return [r for r in self._reviews if transaction_id in (None, r.transaction_id)]

    def memos(self, transaction_id: str) -> list[str]:
        """Every memo written to the transaction, oldest first (a replay writes none)."""
        with self._lock:
            return list(self._memos.get(transaction_id, []))

    def cards(self) -> list[Card]:
        with self._lock:
            return [Card.from_wire(card, self.currency) for card in self._cards.values()]

    def card(self, card_id: str) -> Card:
        with self._lock:
            return Card.from_wire(self._get(self._cards, card_id, "card"), self.currency)

    def gl_code_of(self, account_id: str) -> str:
        with self._lock:
            return str(self._get(self._gl_accounts, account_id, "GL account")["code"])

    def events(self) -> list[dict[str, Any]]:
        """Every webhook event emitted, whether or not it was delivered."""
        with self._lock:
            return copy.deepcopy(self._events)

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions)

    # -- what the HTTP API does --------------------------------------------------------------

    def listing(self, kind: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """The filtered, ordered collection a list endpoint pages through (wire copies)."""
        with self._lock:
            if kind == "transactions":
                rows = [t for t in self._transactions.values() if self._matches(t, query)]
                rows.sort(key=lambda t: (t["user_transaction_time"], t["id"]), reverse=True)
            elif kind == "receipts":
                wanted = query.get("transaction_id")
                rows = [r for r in self._receipts.values() if wanted in (None, r["transaction_id"])]
            elif kind == "users":
                rows = [
                    u
                    for u in self._users.values()
                    if all(
                        query.get(name) in (None, u[name])
                        for name in ("department_id", "role", "email")
                    )
                ]
            else:
                rows = list(
                    {
                        "departments": self._departments,
                        "accounts": self._gl_accounts,
                        "vendors": self._vendors,
                    }[kind].values()
                )
            return copy.deepcopy(rows)

    def _matches(self, transaction: Mapping[str, Any], query: Mapping[str, str]) -> bool:
        holder = transaction["card_holder"]
        exact = {
            "state": transaction["state"],
            "approval_status": transaction["approval_status"],
            "sync_status": transaction["sync_status"],
            "user_id": holder["user_id"],
            "department_id": holder["department_id"],
        }
        if any(name in query and query[name] != value for name, value in exact.items()):
            return False
        when = datetime.fromisoformat(transaction["user_transaction_time"])
        if "from_date" in query and when < _query_time(query, "from_date"):
            return False
        if "to_date" in query and when > _query_time(query, "to_date"):
            return False
        updated = self._updated_at[transaction["id"]]
        return not ("updated_after" in query and updated <= _query_time(query, "updated_after"))

    def get_wire(self, kind: str, object_id: str) -> dict[str, Any]:
        with self._lock:
            table = {
                "transactions": self._transactions,
                "receipts": self._receipts,
                "users": self._users,
                "cards": self._cards,
            }[kind]
            return copy.deepcopy(self._get(table, object_id, kind.rstrip("s")))

    def write_memo(self, transaction_id: str, memo: str) -> dict[str, Any]:
        with self._lock:
            transaction = self._get(self._transactions, transaction_id, "transaction")
            transaction["memo"] = memo
            self._memos.setdefault(transaction_id, []).append(memo)
            self._touch(transaction_id)
            return {"transaction_id": transaction_id, "memo": memo}

    def select_gl_account(self, transaction_id: str, account_id: str) -> dict[str, Any]:
        """Code a transaction to a GL account, replacing any GL coding it had."""
        with self._lock:
            transaction = self._get(self._transactions, transaction_id, "transaction")
            account = self._gl_accounts.get(account_id)
            if account is None:
                raise SimError(400, "INVALID_REQUEST", f"no GL account {account_id}")
            others = [
                s for s in transaction["accounting_field_selections"] if s["type"] != GL_ACCOUNT
            ]
            selection = {
                "id": account["id"],
                "name": account["name"],
                "external_id": account["code"],
                "type": GL_ACCOUNT,
            }
            transaction["accounting_field_selections"] = [*others, selection]
            self._touch(transaction_id)
            return copy.deepcopy(transaction)

    def review(
        self, transaction_id: str, decision: ReviewDecision, reason: str | None, client_id: str
    ) -> dict[str, Any]:
        """Record a decision once; the same decision again changes nothing."""
        with self._lock:
            transaction = self._get(self._transactions, transaction_id, "transaction")
            target = FULLY_APPROVED if decision is ReviewDecision.APPROVE else REJECTED
            current = transaction["approval_status"]
            if current == target:
                return copy.deepcopy(transaction)
            if current != AWAITING_REVIEWER:
                raise SimError(
                    422,
                    "TRANSACTION_ALREADY_REVIEWED",
                    f"transaction {transaction_id} is already {current}",
                )
            gl = next(
                (s for s in transaction["accounting_field_selections"] if s["type"] == GL_ACCOUNT),
                None,
            )
            if decision is ReviewDecision.APPROVE and gl is None:
                raise SimError(
                    422, "GL_ACCOUNT_REQUIRED", "code the transaction to a GL account first"
                )
            if decision is ReviewDecision.REJECT and not reason:
                raise SimError(400, "INVALID_REQUEST", "a rejection needs a reason")
            transaction["approval_status"] = target
            if decision is ReviewDecision.APPROVE:
                transaction["sync_status"] = "SYNC_READY"
            self._reviews.append(
                Review(
                    transaction_id=transaction_id,
                    decision=decision,
                    reason=reason,
                    gl_code=gl["external_id"] if gl else None,
                    at=self.clock.now(),
                    client_id=client_id,
                )
            )
            self._touch(transaction_id)
            return copy.deepcopy(transaction)

    def start_card_task(self, request: Mapping[str, Any], client_id: str) -> dict[str, Any]:
        """A deferred virtual-card creation; the body's ``idempotency_key`` de-duplicates."""
        key = request.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise SimError(400, "INVALID_REQUEST", "idempotency_key is required")
        spec = self._card_spec(request)
        with self._lock:
            earlier = self._task_requests.get(key)
            if earlier is not None:
                if earlier[0] != dict(request):
                    raise SimError(
                        400,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this idempotency_key was used with a different request",
                    )
                return _public_task(self._tasks[earlier[1]])
            task: dict[str, Any] = {
                "id": self.new_id(),
                "status": CardTaskStatus.STARTED.value,
                "data": {},
                "context": {"acting_client_id": client_id},
                "created_at": self.clock.now().isoformat(),
                "spec": spec,
            }
            self._tasks[task["id"]] = task
            self._task_requests[key] = (copy.deepcopy(dict(request)), task["id"])
            return _public_task(task)

    def poll_card_task(self, task_id: str) -> dict[str, Any]:
        """Answer the task as it stands, then move it one step: a poller sees STARTED, then
        IN_PROGRESS, then SUCCESS (the card issued) or ERROR."""
        with self._lock:
            task = self._get(self._tasks, task_id, "card task")
            answer = _public_task(task)
            if task["status"] == CardTaskStatus.STARTED:
                task["status"] = CardTaskStatus.IN_PROGRESS.value
            elif task["status"] == CardTaskStatus.IN_PROGRESS:
                problem = self._card_problem(task["spec"])
                if problem:
                    task["status"] = CardTaskStatus.ERROR.value
                    task["data"] = {"error": {"message": problem}}
                else:
                    task["status"] = CardTaskStatus.SUCCESS.value
                    task["data"] = {"card_id": self._issue_card(task["spec"])}
            return answer

    def _card_spec(self, request: Mapping[str, Any]) -> dict[str, Any]:
        restrictions = request.get("spending_restrictions")
        if not isinstance(restrictions, Mapping):
            raise SimError(400, "INVALID_REQUEST", "spending_restrictions is required")
        try:
            limit = wire.to_minor(restrictions["amount"], self.currency)
            per_transaction = restrictions.get("transaction_amount_limit")
            if per_transaction is not None:
                wire.to_minor(per_transaction, self.currency)
        except (KeyError, TypeError, ValueError) as exc:
            raise SimError(400, "INVALID_REQUEST", f"invalid card amount: {exc}") from exc
        if limit <= 0:
            raise SimError(400, "INVALID_REQUEST", "the card limit must be positive")
        if restrictions.get("interval") not in ("DAILY", "MONTHLY", "QUARTERLY", "YEARLY", "TOTAL"):
            raise SimError(400, "INVALID_REQUEST", "invalid spending_restrictions.interval")
        for field in ("user_id", "display_name"):
            if not isinstance(request.get(field), str):
                raise SimError(400, "INVALID_REQUEST", f"{field} is required")
        gl_account_id = request.get("accounting_gl_account_id")
        if gl_account_id is not None and gl_account_id not in self._gl_accounts:
            raise SimError(400, "INVALID_REQUEST", f"no GL account {gl_account_id}")
        return {
            "user_id": request["user_id"],
            "display_name": request["display_name"],
            "spending_restrictions": copy.deepcopy(dict(restrictions)),
            "accounting_gl_account_id": gl_account_id,
        }

    def _card_problem(self, spec: Mapping[str, Any]) -> str | None:
        """Why Ramp would fail the task after accepting it, or None."""
        user = self._users.get(spec["user_id"])
        if user is None or user["status"] != "USER_ACTIVE":
            return f"user {spec['user_id']} cannot hold a card"
        unknown = [
            v
            for v in spec["spending_restrictions"].get("vendor_whitelist") or ()
            if v not in self._vendors
        ]
        return f"unknown vendors {unknown}" if unknown else None

    def _issue_card(self, spec: Mapping[str, Any]) -> str:
        user = self._users[spec["user_id"]]
        card_id = self.new_id()
        self._cards[card_id] = {
            "id": card_id,
            "display_name": spec["display_name"],
            "last_four": f"{self._rng.randrange(10_000):04d}",
            "cardholder_id": user["id"],
            "cardholder_name": f"{user['first_name']} {user['last_name']}",
            "is_physical": False,
            "state": "ACTIVE",
            "spending_restrictions": copy.deepcopy(spec["spending_restrictions"]),
            "accounting_gl_account_id": spec["accounting_gl_account_id"],
            "created_at": self.clock.now().isoformat(),
        }
        return card_id

    def subscribe(self, endpoint_url: str, event_types: Sequence[str]) -> Subscription:
        with self._lock:
            subscription = Subscription(
                id=self.new_id(),
                endpoint_url=endpoint_url,
                event_types=tuple(event_types),
                secret=self.random_hex(64),
            )
            self._subscriptions.append(subscription)
            return subscription

    # -- helpers -----------------------------------------------------------------------------

    def _touch(self, transaction_id: str) -> None:
        self._updated_at[transaction_id] = self.clock.now()

    @staticmethod
    def _get(table: Mapping[str, dict[str, Any]], object_id: str, what: str) -> dict[str, Any]:
        found = table.get(object_id)
        if found is None:
            raise SimError(404, "NOT_FOUND", f"no {what} with id {object_id}")
        return found


def _public_task(task: Mapping[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in task.items() if key != "spec"}


def _query_time(query: Mapping[str, str], name: str) -> datetime:
    try:
        return to_utc(datetime.fromisoformat(query[name]))
    except ValueError as exc:
        raise SimError(400, "INVALID_REQUEST", f"{name} is not an ISO 8601 time") from exc


__all__ = [
    "MISSING_RECEIPT",
    "READY_FOR_REVIEW",
    "RECEIPT_ILLEGIBLE",
    "RampState",
    "Review",
    "SimError",
    "Subscription",
]
