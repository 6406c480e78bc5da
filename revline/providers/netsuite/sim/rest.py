"""REST records of the simulated account: their JSON, and create, update and transform.

Field names are REST's (camelCase, custom fields by script id); references are
``{"id", "refName"}``; sublists are links unless ``expandSubResources=true``. With
``X-NetSuite-PropertyNameValidation: Error`` an unknown field is refused; by default it is
ignored, as NetSuite does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from revline.providers.netsuite.sim.books import BooksError, NetSuiteBooks, decimal_of

# REST field → (column, kind) for the fields a PATCH may change; kinds: text, ref, flag.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "customer": {
        "entityId": ("entityid", "text"),
        "companyName": ("companyname", "text"),
        "email": ("email", "text"),
        "salesRep": ("salesrep", "ref"),
        "currency": ("currency", "ref"),
        "custentity_stripe_customer_id": ("custentity_stripe_customer_id", "text"),
        "custentity_revline_pipeline_excluded": ("custentity_revline_pipeline_excluded", "flag"),
        "custentity_revline_pipeline_reason": ("custentity_revline_pipeline_reason", "text"),
    },
    "contact": {
        "firstName": ("firstname", "text"),
        "lastName": ("lastname", "text"),
        "email": ("email", "text"),
        "contactRole": ("contactrole", "ref"),
        "custentity_revline_ap_contact": ("custentity_revline_ap_contact", "flag"),
    },
    "invoice": {
        "memo": ("memo", "text"),
        "custbody_stripe_invoice_id": ("custbody_stripe_invoice_id", "text"),
        "custbody_stripe_charge_id": ("custbody_stripe_charge_id", "text"),
        "custbody_stripe_subscription_id": ("custbody_stripe_subscription_id", "text"),
    },
    "customerPayment": {"memo": ("memo", "text")},
    "deposit": {"memo": ("memo", "text")},
}
# Fields accepted when a record is created (or transformed into), beyond the PATCH ones.
CREATE_ONLY: dict[str, frozenset[str]] = {
    "customer": frozenset({"subsidiary"}),
    "contact": frozenset({"company", "subsidiary"}),
    "customerPayment": frozenset(
        {
            "payment",
            "undepFunds",
            "account",
            "tranDate",
            "custbody_stripe_charge_id",
            "custbody_revline_idempotency_key",
        }
    ),
    "deposit": frozenset(
        {
            "account",
            "tranDate",
            "subsidiary",
            "currency",
            "custbody_stripe_payout_id",
            "custbody_revline_idempotency_key",
            "payment",
            "other",
            "cashBack",
        }
    ),
}
CREATABLE = frozenset({"customer", "contact", "deposit"})
_TRANSACTION_TYPES = {
    "invoice": "CustInvc",
    "customerPayment": "CustPymt",
    "deposit": "Deposit",
    "creditMemo": "CustCred",
}
_STATUS_NAMES = {
    ("CustInvc", "A"): "Open",
    ("CustInvc", "B"): "Paid In Full",
    ("CustInvc", "V"): "Voided",
    ("CustPymt", "B"): "Not Deposited",
    ("CustPymt", "C"): "Deposited",
    ("CustCred", "B"): "Fully Applied",
}


class RestError(Exception):
    """A REST call refused: HTTP status, NetSuite error code, detail, and the field at fault."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path


def _fields(
    record_type: str, body: Mapping[str, Any], strict: bool, creating: bool
) -> dict[str, Any]:
    allowed = set(COLUMNS.get(record_type, {}))
    if creating:
        allowed |= CREATE_ONLY.get(record_type, frozenset())
    unknown = sorted(set(body) - allowed)
    if unknown and strict:
        raise RestError(
            400, "INVALID_PARAMETER", f"Unknown or read-only field {unknown[0]!r}.", unknown[0]
        )
    return {key: value for key, value in body.items() if key in allowed}


def _ref(value: Any, field: str) -> int:
    if isinstance(value, Mapping) and str(value.get("id", "")).isdigit():
        return int(value["id"])
    raise RestError(400, "INVALID_KEY_OR_REF", f"Invalid {field} reference key {value!r}.", field)


def _amount(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RestError(400, "INVALID_FLD_VALUE", f"{field} must be a number.", field)
    return Decimal(value)


def _day(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise RestError(400, "INVALID_FLD_VALUE", f"{field} must be a date.", field) from exc


def _flag(value: Any, field: str) -> str:
    if not isinstance(value, bool):
        raise RestError(400, "INVALID_FLD_VALUE", f"{field} must be true or false.", field)
    return "T" if value else "F"


class RestRecords:
    """The REST record surface over one account's books."""

    def __init__(self, books: NetSuiteBooks) -> None:
        self.books = books

    def _link(self, base: str, path: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{base}/services/rest/record/v1/{path}"}]

    def _ref(self, base: str, record_type: str, record_id: Any, name: Any) -> dict[str, Any]:
        return {
            "links": self._link(base, f"{record_type}/{record_id}"),
            "id": str(record_id),
            "refName": str(name),
        }

    # -- reading ---------------------------------------------------------------------------------

    def get(self, record_type: str, record_id: str, base: str, expand: bool) -> dict[str, Any]:
        readers: dict[str, Callable[[int, str, bool], dict[str, Any]]] = {
            "customer": self._customer,
            "contact": self._contact,
        }
        if not record_id.isdigit():
            raise RestError(404, "NONEXISTENT_ID", f"Invalid record id {record_id}.")
        if record_type in readers:
            return readers[record_type](int(record_id), base, expand)
        if record_type in _TRANSACTION_TYPES:
            return self._transaction(record_type, int(record_id), base, expand)
        raise RestError(404, "INVALID_RECORD_TYPE", f"Record type {record_type} is not available.")

    def _missing(self, record_type: str, record_id: int) -> RestError:
        return RestError(
            404,
            "NONEXISTENT_ID",
            f"The record instance does not exist. Provide a valid record instance ID "
            f"({record_type} {record_id}).",
        )

    def _customer(self, customer_id: int, base: str, expand: bool) -> dict[str, Any]:
        row = self.books.row(
            "SELECT c.*, e.entityid AS salesrep_name, cur.name AS currency_name FROM customer c"
            " LEFT JOIN employee e ON e.id = c.salesrep JOIN currency cur ON cur.id = c.currency"
            " WHERE c.id = ?",
            (customer_id,),
        )
        if row is None:
            raise self._missing("customer", customer_id)
        record: dict[str, Any] = {
            "links": self._link(base, f"customer/{customer_id}"),
            "id": str(customer_id),
            "entityId": row["entityid"],
            "companyName": row["companyname"],
            "email": row["email"],
            "currency": self._ref(base, "currency", row["currency"], row["currency_name"]),
            "isInactive": row["isinactive"] == "T",
            "dateCreated": row["datecreated"],
            "custentity_stripe_customer_id": row["custentity_stripe_customer_id"],
            "custentity_revline_pipeline_excluded": row["custentity_revline_pipeline_excluded"]
            == "T",
            "custentity_revline_pipeline_reason": row["custentity_revline_pipeline_reason"],
        }
        if row["salesrep"] is not None:
            record["salesRep"] = self._ref(base, "employee", row["salesrep"], row["salesrep_name"])
        return {key: value for key, value in record.items() if value is not None}

    def _contact(self, contact_id: int, base: str, expand: bool) -> dict[str, Any]:
        row = self.books.row(
            "SELECT ct.*, c.entityid AS company_name, r.name AS role_name FROM contact ct"
            " LEFT JOIN customer c ON c.id = ct.company"
            " LEFT JOIN contactrole r ON r.id = ct.contactrole WHERE ct.id = ?",
            (contact_id,),
        )
        if row is None:
            raise self._missing("contact", contact_id)
        record: dict[str, Any] = {
            "links": self._link(base, f"contact/{contact_id}"),
            "id": str(contact_id),
            "entityId": row["entityid"],
            "firstName": row["firstname"],
            "lastName": row["lastname"],
            "email": row["email"],
            "custentity_revline_ap_contact": row["custentity_revline_ap_contact"] == "T",
        }
        if row["company"] is not None:
            record["company"] = self._ref(base, "customer", row["company"], row["company_name"])
        if row["contactrole"] is not None:
            record["contactRole"] = {"id": str(row["contactrole"]), "refName": row["role_name"]}
        return {key: value for key, value in record.items() if value is not None}

    def _transaction(
        self, record_type: str, record_id: int, base: str, expand: bool
    ) -> dict[str, Any]:
        kind = _TRANSACTION_TYPES[record_type]
        row = self.books.row(
            "SELECT t.*, cur.name AS currency_name, c.entityid AS entity_name,"
            ' p.periodname AS period_name FROM "transaction" t'
            " JOIN currency cur ON cur.id = t.currency LEFT JOIN customer c ON c.id = t.entity"
            " LEFT JOIN accountingperiod p ON p.id = t.postingperiod"
            " WHERE t.id = ? AND t.type = ?",
            (record_id, kind),
        )
        if row is None:
            raise self._missing(record_type, record_id)
        path = f"{record_type}/{record_id}"
        status = _STATUS_NAMES.get((kind, row["status"]))
        record: dict[str, Any] = {
            "links": self._link(base, path),
            "id": str(record_id),
            "tranId": row["tranid"],
            "tranDate": row["trandate"],
            "currency": self._ref(base, "currency", row["currency"], row["currency_name"]),
            "postingPeriod": self._ref(
                base, "accountingPeriod", row["postingperiod"], row["period_name"]
            )
            if row["postingperiod"] is not None
            else None,
            "total": decimal_of(row["foreigntotal"]),
            "memo": row["memo"],
            "createdDate": row["createddate"],
            "status": {"id": status, "refName": status} if status else None,
        }
        for column in row.keys():  # noqa: SIM118 (sqlite3.Row iterates values, not names)
            if column.startswith("custbody_") and row[column] is not None:
                record[column] = row[column]
        if row["entity"] is not None:
            entity_field = "customer" if kind == "CustPymt" else "entity"
            record[entity_field] = self._ref(base, "customer", row["entity"], row["entity_name"])
        if kind == "CustInvc":
            record["amountRemaining"] = decimal_of(row["foreignamountunpaid"])
            record["voided"] = row["voided"] == "T"
        if kind == "CustPymt":
            record["payment"] = decimal_of(row["foreigntotal"])
            record["undepFunds"] = row["status"] == "B"
            record["apply"] = self._sublist(base, path, "apply", expand, self._applied(record_id))
        if kind == "CustCred" and row["createdfrom"] is not None:
            record["createdFrom"] = {"id": str(row["createdfrom"])}
        if kind == "Deposit":
            record["account"] = {"id": str(row["account"])}
            for sublist, key in (
                ("payment", "payment"),
                ("other", "other"),
                ("cashback", "cashBack"),
            ):
                items = self._deposit_lines(record_id, sublist)
                record[key] = self._sublist(base, path, key, expand, items)
        return {key: value for key, value in record.items() if value is not None}

    def _sublist(
        self, base: str, path: str, name: str, expand: bool, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        links = self._link(base, f"{path}/{name}")
        if not expand:
            return {"links": links}
        return {"links": links, "items": items, "count": len(items), "hasMore": False}

    def _applied(self, payment_id: int) -> list[dict[str, Any]]:
        return [
            {
                "doc": {"id": str(row["previousdoc"])},
                "apply": True,
                "amount": decimal_of(row["foreignamount"]),
            }
            for row in self.books.rows(
                "SELECT * FROM previoustransactionlink WHERE nextdoc = ? ORDER BY previousdoc",
                (payment_id,),
            )
        ]

    def _deposit_lines(self, deposit_id: int, sublist: str) -> list[dict[str, Any]]:
        items = []
        for row in self.books.rows(
            'SELECT * FROM transactionline WHERE "transaction" = ? AND sim_sublist = ?'
            " ORDER BY linesequencenumber",
            (deposit_id, sublist),
        ):
            amount = decimal_of(row["foreignamount"])
            if sublist == "payment":
                items.append(
                    {"doc": {"id": str(row["sim_doc"])}, "deposit": True, "paymentAmount": amount}
                )
            else:
                item: dict[str, Any] = {
                    "account": {"id": str(row["expenseaccount"])},
                    "amount": amount,
                }
                if row["memo"]:
                    item["memo"] = row["memo"]
                items.append(item)
        return items

    # -- writing ---------------------------------------------------------------------------------

    def create(self, record_type: str, body: Mapping[str, Any], strict: bool) -> str:
        if record_type not in CREATABLE:
            raise RestError(
                405, "INVALID_OPERATION", f"Creating {record_type} records is not simulated."
            )
        fields = _fields(record_type, body, strict, creating=True)
        try:
            if record_type == "customer":
                return self._create_customer(fields)
            if record_type == "contact":
                return self._create_contact(fields)
            return self._create_deposit(fields)
        except BooksError as exc:
            raise RestError(exc.status, exc.code, exc.message) from exc

    def _create_customer(self, fields: Mapping[str, Any]) -> str:
        name = fields.get("companyName") or fields.get("entityId")
        if not isinstance(name, str) or not name:
            raise RestError(
                400, "USER_ERROR", "Please enter a value for Company Name.", "companyName"
            )
        currency = _ref(fields["currency"], "currency") if "currency" in fields else 1
        customer_id = self.books.add_customer(
            name, currency=str(self.books.currency(currency)["symbol"])
        )
        self._write_columns("customer", customer_id, fields)
        return customer_id

    def _create_contact(self, fields: Mapping[str, Any]) -> str:
        if "company" not in fields:
            raise RestError(400, "USER_ERROR", "Please enter a value for Company.", "company")
        company = _ref(fields["company"], "company")
        if self.books.row("SELECT id FROM customer WHERE id = ?", (company,)) is None:
            raise RestError(
                400, "INVALID_KEY_OR_REF", f"Invalid company reference key {company}.", "company"
            )
        contact_id = self.books.add_contact(str(company), "", "", None, role=None)
        self._write_columns("contact", contact_id, fields)
        return contact_id

    def _create_deposit(self, fields: Mapping[str, Any]) -> str:
        if "account" not in fields:
            raise RestError(400, "USER_ERROR", "Please enter a value for Account.", "account")

        def items(key: str) -> list[Mapping[str, Any]]:
            sublist = fields.get(key) or {}
            found = sublist.get("items", []) if isinstance(sublist, Mapping) else None
            if not isinstance(found, list) or not all(isinstance(i, Mapping) for i in found):
                raise RestError(400, "INVALID_FLD_VALUE", f"{key} must be a sublist.", key)
            return found

        payments = []
        for item in items("payment"):
            if item.get("deposit", True) is not True:
                continue
            stated = item.get("paymentAmount")
            payments.append(
                (
                    _ref(item.get("doc"), "payment.doc"),
                    None if stated is None else _amount(stated, "payment.paymentAmount"),
                )
            )
        lines = {
            key: [
                (
                    _ref(item.get("account"), f"{key}.account"),
                    _amount(item.get("amount"), f"{key}.amount"),
                    item.get("memo"),
                )
                for item in items(key)
            ]
            for key in ("other", "cashBack")
        }
        return self.books.create_deposit(
            bank_account=_ref(fields["account"], "account"),
            payments=payments,
            other=lines["other"],
            cashback=lines["cashBack"],
            on=_day(fields["tranDate"], "tranDate") if "tranDate" in fields else None,
            memo=fields.get("memo"),
            fields={k: v for k, v in fields.items() if k.startswith("custbody_")},
        )

    def update(
        self, record_type: str, record_id: str, body: Mapping[str, Any], strict: bool
    ) -> None:
        """PATCH: change the given fields, leave the rest."""
        if record_type not in COLUMNS or not record_id.isdigit():
            raise RestError(405, "INVALID_OPERATION", f"Updating {record_type} is not simulated.")
        fields = _fields(record_type, body, strict, creating=False)
        table = "transaction" if record_type in _TRANSACTION_TYPES else record_type
        found = self.books.row(
            f'SELECT * FROM "{table}" WHERE id = ?',  # noqa: S608 (table from a fixed map)
            (int(record_id),),
        )
        kind = _TRANSACTION_TYPES.get(record_type)
        if found is None or (kind is not None and found["type"] != kind):
            raise self._missing(record_type, int(record_id))
        self._write_columns(record_type, record_id, fields)

    def _write_columns(self, record_type: str, record_id: str, fields: Mapping[str, Any]) -> None:
        table = "transaction" if record_type in _TRANSACTION_TYPES else record_type
        columns = COLUMNS[record_type]
        updates: list[tuple[str, object]] = []
        for field, value in fields.items():
            if field not in columns:
                continue  # a create-only field, already used
            column, kind = columns[field]
            if kind == "ref":
                updates.append((column, _ref(value, field)))
            elif kind == "flag":
                updates.append((column, _flag(value, field)))
            elif value is None or isinstance(value, str):
                updates.append((column, value))
            else:
                raise RestError(400, "INVALID_FLD_VALUE", f"{field} must be text.", field)
        with self.books.write() as db:
            for column, value in updates:
                db.execute(
                    f'UPDATE "{table}" SET {column} = ? WHERE id = ?',  # noqa: S608 (fixed map)
                    (value, int(record_id)),
                )

    def transform(
        self,
        source_type: str,
        source_id: str,
        target_type: str,
        body: Mapping[str, Any],
        strict: bool,
    ) -> str:
        """``!transform``: only invoice → customerPayment is simulated."""
        if (source_type, target_type) != ("invoice", "customerPayment"):
            raise RestError(
                400,
                "INVALID_OPERATION",
                f"Transforming {source_type} to {target_type} is not simulated.",
            )
        if not source_id.isdigit():
            raise self._missing(source_type, 0)
        fields = _fields(target_type, body, strict, creating=True)
        undeposited = fields.get("undepFunds", True)
        if not isinstance(undeposited, bool):
            raise RestError(
                400, "INVALID_FLD_VALUE", "undepFunds must be true or false.", "undepFunds"
            )
        try:
            return self.books.transform_to_payment(
                source_id,
                amount=_amount(fields["payment"], "payment") if "payment" in fields else None,
                undeposited=undeposited,
                bank_account=_ref(fields["account"], "account") if "account" in fields else None,
                on=_day(fields["tranDate"], "tranDate") if "tranDate" in fields else None,
                memo=fields.get("memo"),
                fields={k: v for k, v in fields.items() if k.startswith("custbody_")},
            )
        except BooksError as exc:
            raise RestError(exc.status, exc.code, exc.message) from exc
