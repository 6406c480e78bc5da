"""Simulated Stripe objects, cast from Stripe's samples and filled in as Stripe fills them.

Pure functions: the state passes ids, times and amounts; each returns a complete object of the
current API version (see ``templates``). Nullable sub-objects Stripe leaves empty on such an
object are set to ``None`` rather than kept as the sample's placeholder values.
"""

from __future__ import annotations

from typing import Any

from revline.providers.stripe.sim.templates import sample

Obj = dict[str, Any]

_NULL_ADDRESS: Obj = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}

# Stripe's messages for the failure codes Revline meets (PROVIDERS.md, "Failures").
FAILURE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


def failure_message(code: str) -> str:
    """Stripe's message for a failure code."""
    return FAILURE_MESSAGES.get(code, "Your card was declined.")


def customer(
    *,
    customer_id: str,
    created: int,
    email: str | None,
    name: str | None,
    metadata: dict[str, str],
    invoice_prefix: str,
    payment_method: str,
) -> Obj:
    """A new customer with a saved card as its default payment method."""
    obj = sample("customer")
    obj.update(
        id=customer_id,
        created=created,
        email=email,
        name=name,
        metadata=dict(metadata),
        invoice_prefix=invoice_prefix,
        address=None,
        currency=None,
        description=None,
        discount=None,
        delinquent=False,
        balance=0,
        next_invoice_sequence=1,
        shipping=None,
        livemode=False,
    )
    obj["invoice_settings"] = {
        "custom_fields": None,
        "default_payment_method": payment_method,
        "footer": None,
        "rendering_options": None,
    }
    return obj


def invoice_line(
    *,
    line_id: str,
    invoice_id: str,
    amount: int,
    currency: str,
    description: str,
    period_start: int,
    period_end: int,
    subscription: str | None,
    subscription_item: str | None,
) -> Obj:
    """A subscription line (or a one-off invoice item's line) of an invoice."""
    line: Obj = sample("invoice")["lines"]["data"][0]
    line.update(
        id=line_id,
        invoice=invoice_id,
        amount=amount,
        currency=currency,
        description=description,
        period={"start": period_start, "end": period_end},
        quantity=1,
        subtotal=amount,
        subscription=None,
        discount_amounts=[],
        discounts=[],
        taxes=[],
        pretax_credit_amounts=[],
        metadata={},
        quantity_decimal="1",
        livemode=False,
    )
    line["pricing"] = {"type": "price_details", "unit_amount_decimal": str(amount)}
    if subscription is not None:
        line["parent"] = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        line["parent"] = {
            "invoice_item_details": {
                "invoice_item": line_id.replace("il_", "ii_", 1),
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return line


def invoice(
    *,
    invoice_id: str,
    created: int,
    customer_obj: Obj,
    amount: int,
    currency: str,
    line: Obj,
    subscription: str | None,
    period_start: int,
    period_end: int,
    billing_reason: str,
    description: str | None,
    metadata: dict[str, str],
    account_name: str,
) -> Obj:
    """A draft invoice; ``finalize`` opens it."""
    obj = sample("invoice")
    obj.update(
        id=invoice_id,
        created=created,
        customer=customer_obj["id"],
        customer_email=customer_obj["email"],
        customer_name=customer_obj["name"],
        customer_address=None,
        customer_shipping=None,
        account_name=account_name,
        currency=currency,
        amount_due=amount,
        amount_paid=0,
        amount_remaining=amount,
        amount_overpaid=0,
        amount_shipping=0,
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        billing_reason=billing_reason,
        collection_method="charge_automatically",
        description=description,
        due_date=None,
        effective_at=None,
        ending_balance=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        last_finalization_error=None,
        metadata=dict(metadata),
        next_payment_attempt=None,
        number=None,
        period_start=period_start,
        period_end=period_end,
        shipping_cost=None,
        shipping_details=None,
        status="draft",
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=None,
        livemode=False,
    )
    obj["status_transitions"] = {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    }
    obj["lines"] = {
        "data": [line],
        "has_more": False,
        "object": "list",
        "url": f"/v1/invoices/{invoice_id}/lines",
    }
    obj["parent"] = (
        {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription},
            "type": "subscription_details",
        }
        if subscription is not None
        else None
    )
    obj["automatic_tax"] = {
        "enabled": False,
        "liability": None,
        "status": None,
        "disabled_reason": None,
        "provider": None,
    }
    return obj


def invoice_payment(*, payment_id: str, created: int, invoice_obj: Obj, payment_intent: str) -> Obj:
    """The link between an invoice and the payment intent that pays it."""
    obj = sample("invoice_payment")
    obj.update(
        id=payment_id,
        created=created,
        invoice=invoice_obj["id"],
        currency=invoice_obj["currency"],
        amount_requested=invoice_obj["amount_remaining"],
        amount_paid=None,
        is_default=True,
        livemode=False,
        status="open",
    )
    obj["payment"] = {"type": "payment_intent", "payment_intent": payment_intent}
    obj["status_transitions"] = {"canceled_at": None, "paid_at": None}
    return obj


def payment_intent(
    *,
    intent_id: str,
    secret: str,
    created: int,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str,
    description: str | None,
    receipt_email: str | None,
) -> Obj:
    """A payment intent waiting for its first charge."""
    obj = sample("payment_intent")
    obj.update(
        id=intent_id,
        created=created,
        amount=amount,
        amount_received=0,
        currency=currency,
        customer=customer,
        description=description,
        automatic_payment_methods=None,
        canceled_at=None,
        client_secret=f"{intent_id}_secret_{secret}",
        last_payment_error=None,
        latest_charge=None,
        metadata={},
        next_action=None,
        payment_method=payment_method,
        payment_method_configuration_details=None,
        processing=None,
        receipt_email=receipt_email,
        shipping=None,
        status="requires_payment_method",
        transfer_data=None,
        livemode=False,
    )
    obj["managed_payments"] = {"enabled": False}
    return obj


def charge(
    *,
    charge_id: str,
    created: int,
    amount: int,
    currency: str,
    customer: str | None,
    email: str | None,
    name: str | None,
    payment_intent: str,
    payment_method: str,
    description: str | None,
    failure_code: str | None,
    decline_code: str | None,
    receipt_secret: str,
) -> Obj:
    """A card charge: succeeded when ``failure_code`` is None, else failed with that code."""
    obj = sample("charge")
    succeeded = failure_code is None
    obj.update(
        id=charge_id,
        created=created,
        amount=amount,
        amount_captured=amount if succeeded else 0,
        amount_refunded=0,
        balance_transaction=None,
        captured=succeeded,
        currency=currency,
        customer=customer,
        description=description,
        disputed=False,
        failure_code=failure_code,
        failure_message=failure_message(failure_code) if failure_code else None,
        fraud_details={},
        metadata={},
        paid=succeeded,
        payment_intent=payment_intent,
        payment_method=payment_method,
        receipt_email=email,
        receipt_url=f"https://pay.stripe.com/receipts/payment/{receipt_secret}",
        refunded=False,
        shipping=None,
        source=None,
        status="succeeded" if succeeded else "failed",
        transfer_data=None,
        calculated_statement_descriptor="REVLINE",
        livemode=False,
    )
    obj["billing_details"] = {
        "address": dict(_NULL_ADDRESS),
        "email": email,
        "name": name,
        "phone": None,
        "tax_id": None,
    }
    obj["outcome"] = {
        "advice_code": None if succeeded else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if succeeded else "declined_by_network",
        "reason": decline_code,
        "seller_message": "Payment complete."
        if succeeded
        else f"The bank returned the decline code `{decline_code}`.",
        "type": "authorized" if succeeded else "issuer_declined",
    }
    obj["refunds"] = {
        "data": [],
        "has_more": False,
        "object": "list",
        "url": f"/v1/charges/{charge_id}/refunds",
    }
    obj["payment_method_details"]["card"]["checks"]["cvc_check"] = (
        "fail" if failure_code == "incorrect_cvc" else "pass"
    )
    return obj


def balance(*, available: dict[str, int], pending: dict[str, int]) -> Obj:
    """The account's balance by currency (``GET /v1/balance``): what is available to pay out
    and what is pending, one entry per currency; all of it from cards, nothing reserved."""
    obj = sample("balance")
    currencies = sorted(available.keys() | pending.keys()) or ["usd"]

    def funds(amounts: dict[str, int]) -> list[Obj]:
        return [
            {
                "amount": amounts.get(c, 0),
                "currency": c,
                "source_types": {"card": amounts.get(c, 0)},
            }
            for c in currencies
        ]

    obj.update(
        available=funds(available),
        pending=funds(pending),
        connect_reserved=[{"amount": 0, "currency": c} for c in currencies],
    )
    return obj


def balance_transaction(
    *,
    txn_id: str,
    created: int,
    amount: int,
    fee: int,
    currency: str,
    txn_type: str,
    reporting_category: str,
    source: str,
    description: str | None,
    fee_description: str = "Stripe processing fees",
) -> Obj:
    """``net = amount - fee``; the fee, if any, is one ``stripe_fee`` detail."""
    obj = sample("balance_transaction")
    obj.update(
        id=txn_id,
        created=created,
        available_on=created,
        amount=amount,
        fee=fee,
        net=amount - fee,
        currency=currency,
        type=txn_type,
        reporting_category=reporting_category,
        source=source,
        description=description,
        status="available",
        exchange_rate=None,
        balance_type="payments",
    )
    obj["fee_details"] = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": fee_description,
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    return obj


def refund(
    *,
    refund_id: str,
    created: int,
    charge_obj: Obj,
    amount: int,
    reason: str | None,
    metadata: dict[str, str],
    balance_transaction: str,
    status: str = "succeeded",
) -> Obj:
    """A refund of (part of) a charge: succeeded, or pending when it settles later."""
    obj = sample("refund")
    obj.update(
        id=refund_id,
        created=created,
        amount=amount,
        balance_transaction=balance_transaction,
        charge=charge_obj["id"],
        currency=charge_obj["currency"],
        customer=charge_obj["customer"],
        metadata=dict(metadata),
        payment_intent=charge_obj["payment_intent"],
        payment_method=charge_obj["payment_method"],
        reason=reason,
        status=status,
    )
    obj["destination_details"] = {
        "card": {"reference": None, "reference_status": "pending", "type": "refund"},
        "type": "card",
    }
    return obj


def dispute(
    *,
    dispute_id: str,
    created: int,
    charge_obj: Obj,
    amount: int,
    reason: str,
    balance_transaction: Obj,
    evidence_due_by: int,
) -> Obj:
    """A dispute that needs a response, with the balance transaction it withdrew."""
    obj = sample("dispute")
    obj.update(
        id=dispute_id,
        created=created,
        amount=amount,
        balance_transactions=[balance_transaction],
        charge=charge_obj["id"],
        currency=charge_obj["currency"],
        is_charge_refundable=False,
        metadata={},
        payment_intent=charge_obj["payment_intent"],
        reason=reason,
        status="needs_response",
        enhanced_eligibility_types=[],
        livemode=False,
    )
    obj["evidence_details"] = {
        "due_by": evidence_due_by,
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
        "enhanced_eligibility": {},
    }
    return obj


def payout(
    *,
    payout_id: str,
    created: int,
    arrival_date: int,
    amount: int,
    currency: str,
    balance_transaction: str,
    destination: str,
    automatic: bool = True,
) -> Obj:
    """A payout in transit, automatic unless made by hand; it is paid on its arrival date."""
    obj = sample("payout")
    obj.update(
        id=payout_id,
        created=created,
        arrival_date=arrival_date,
        amount=amount,
        currency=currency,
        automatic=automatic,
        balance_transaction=balance_transaction,
        destination=destination,
        failure_balance_transaction=None,
        failure_code=None,
        failure_message=None,
        metadata={},
        method="standard",
        reconciliation_status="in_progress",
        status="in_transit",
        livemode=False,
    )
    obj["trace_id"] = {"status": "pending", "value": None}
    return obj


def credit_note(
    *,
    credit_note_id: str,
    line_id: str,
    created: int,
    invoice_obj: Obj,
    number: str,
    amount: int,
    reason: str | None,
    memo: str | None,
    post_payment: bool,
) -> Obj:
    """An issued credit note with one custom line."""
    obj = sample("credit_note")
    line: Obj = obj["lines"]["data"][1]  # the sample's custom line
    line.update(
        id=line_id,
        amount=amount,
        description=memo or "Credit",
        invoice_line_item=None,
        unit_amount=amount,
        unit_amount_decimal=str(amount),
        pretax_credit_amounts=[],
        taxes=[],
        metadata={},
    )
    obj.update(
        id=credit_note_id,
        created=created,
        effective_at=created,
        amount=amount,
        currency=invoice_obj["currency"],
        customer=invoice_obj["customer"],
        invoice=invoice_obj["id"],
        memo=memo,
        metadata={},
        number=number,
        reason=reason,
        shipping_cost=None,
        status="issued",
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        type="post_payment" if post_payment else "pre_payment",
        voided_at=None,
        pretax_credit_amounts=[],
        total_taxes=[],
        refunds=[],
        post_payment_amount=amount if post_payment else 0,
        pre_payment_amount=0 if post_payment else amount,
        pdf=f"https://pay.stripe.com/credit_notes/{credit_note_id}/pdf",
    )
    obj["lines"] = {
        "data": [line],
        "has_more": False,
        "object": "list",
        "url": f"/v1/credit_notes/{credit_note_id}/lines",
    }
    return obj


def portal_session(
    *,
    session_id: str,
    created: int,
    customer: str,
    configuration: str,
    return_url: str | None,
    flow_type: str | None,
    url: str,
) -> Obj:
    """A billing-portal session, opening on ``flow_type`` when one is given."""
    obj = sample("billing_portal.session")
    obj.update(
        id=session_id,
        created=created,
        customer=customer,
        configuration=configuration,
        return_url=return_url,
        url=url,
        livemode=False,
    )
    obj["flow"] = (
        {
            "after_completion": {
                "hosted_confirmation": None,
                "redirect": None,
                "type": "portal_homepage",
            },
            "subscription_cancel": None,
            "subscription_update": None,
            "subscription_update_confirm": None,
            "type": flow_type,
        }
        if flow_type
        else None
    )
    return obj


def checkout_session(
    *,
    session_id: str,
    created: int,
    amount: int,
    currency: str,
    email: str,
    payment_intent: str,
    payment_link: str,
) -> Obj:
    """A completed, paid Checkout session of a Payment Link (no customer created)."""
    obj = sample("checkout.session")
    obj.update(
        id=session_id,
        created=created,
        expires_at=created + 24 * 3600,
        after_expiration=None,
        amount_subtotal=amount,
        amount_total=amount,
        cancel_url=None,
        consent=None,
        consent_collection=None,
        currency=currency,
        customer=None,
        customer_creation="if_required",
        customer_email=None,
        discounts=[],
        collected_information=None,
        currency_conversion=None,
        invoice=None,
        metadata={},
        mode="payment",
        payment_intent=payment_intent,
        payment_link=payment_link,
        payment_method_collection="if_required",
        payment_method_configuration_details=None,
        payment_status="paid",
        permissions=None,
        shipping_address_collection=None,
        shipping_cost=None,
        status="complete",
        submit_type="auto",
        success_url=None,
        ui_mode="hosted",
        url=None,
        wallet_options=None,
        livemode=False,
    )
    obj["automatic_tax"] = {"enabled": False, "liability": None, "status": None, "provider": None}
    obj["custom_text"] = {
        "after_submit": None,
        "shipping_address": None,
        "submit": None,
        "terms_of_service_acceptance": None,
    }
    obj["customer_details"] = {
        "address": dict(_NULL_ADDRESS),
        "email": email,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }
    obj["invoice_creation"] = {
        "enabled": False,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": None,
            "metadata": {},
            "rendering_options": None,
        },
    }
    obj["total_details"] = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
    obj["adaptive_pricing"] = {"enabled": False}
    obj["managed_payments"] = {"enabled": False}
    return obj


def event(
    *,
    event_id: str,
    created: int,
    event_type: str,
    data_object: Obj,
    previous_attributes: Obj | None,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> Obj:
    """An event carrying a snapshot of ``data_object``."""
    obj = sample("event")
    data: Obj = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    obj.update(
        id=event_id,
        created=created,
        type=event_type,
        data=data,
        api_version=api_version,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": idempotency_key},
        livemode=False,
    )
    return obj
