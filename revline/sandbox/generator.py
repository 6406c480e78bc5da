"""A believable subscription company, generated from a seed, as a scenario.

``revline demo`` plays what this produces through the same runner as ``revline simulate``: the
world is just a longer scenario. Everything is drawn from one ``random.Random(seed)``, so the same
seed gives the same company, the same failures and the same anomalies.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

from revline.clock import WorkingCalendar
from revline.sandbox.scenario import Scenario, parse

FIRST_NAMES = [
    "Dana",
    "Lee",
    "Amara",
    "Tomás",
    "Ingrid",
    "Kenji",
    "Noor",
    "Ravi",
    "Chloé",
    "Mateo",
    "Zanele",
    "Ola",
    "Sven",
    "Mei",
    "Farah",
    "Luca",
    "Aisha",
    "Jonah",
]
LAST_NAMES = [
    "Reyes",
    "Okafor",
    "Lindgren",
    "Haddad",
    "Moreau",
    "Tanaka",
    "Kowalski",
    "Silva",
    "Nguyen",
    "Brennan",
    "Mensah",
    "Rossi",
    "Kaur",
    "Fischer",
    "Abebe",
    "Novak",
]
COMPANY_WORDS = [
    "Acme",
    "Northgate",
    "Halberd",
    "Aurelius",
    "Bluefin",
    "Cobalt",
    "Driftwood",
    "Ember",
    "Foxglove",
    "Granite",
    "Harbor",
    "Ironclad",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchard",
    "Pinnacle",
    "Quarry",
    "Redwood",
    "Summit",
    "Tidewater",
    "Umbra",
    "Vantage",
    "Willow",
    "Zenith",
]
COMPANY_SUFFIXES = [
    "Corp",
    "Capital",
    "Cybersecurity",
    "Partners",
    "Labs",
    "Logistics",
    "Health",
    "Analytics",
    "Foods",
    "Systems",
    "Studio",
    "Robotics",
]
OWNERS = [("Felix Nordstrom", "felix"), ("Hana Kim", "hana"), ("Diego Alvarez", "diego")]
# The mix of decline codes card failures carry, roughly as processors see them.
DECLINES = [
    ("card_declined", "generic_decline", 40),
    ("insufficient_funds", "insufficient_funds", 30),
    ("card_declined", "do_not_honor", 12),
    ("expired_card", None, 10),
    ("card_declined", "lost_card", 3),
    ("card_declined", "stolen_card", 2),
    ("card_declined", "fraudulent", 3),
]
TYPOS = {"gmail.com": "gmial.com", "outlook.com": "outlok.com", "yahoo.com": "yaho.com"}
MERCHANTS = [
    ("Figma", 4500, "SaaS"),
    ("Notion Labs", 1600, "SaaS"),
    ("Delta Air Lines", 48900, "Travel"),
    ("Hilton Hotels", 61200, "Lodging"),
    ("Uber", 3850, "Travel"),
    ("AWS", 231400, "Cloud"),
    ("Sweetgreen", 2750, "Meals"),
    ("WeWork", 85000, "Rent"),
]

PEOPLE = {
    "senior_revops_manager": {"name": "Maya Lindqvist", "email": "maya@ourco.example"},
    "billing_analyst": {"name": "Omar Haddad", "email": "omar@ourco.example"},
    "ar_specialist": {"name": "Priya Nair", "email": "priya@ourco.example"},
    "fpa_analyst": {"name": "Jonas Weber", "email": "jonas@ourco.example"},
    "spend_ops_lead": {"name": "Grace Obi", "email": "grace@ourco.example"},
}


def _mrr(rng: random.Random) -> int:
    """Monthly recurring revenue in cents: log-normal around $1,800, some above $5,000."""
    dollars = math.exp(rng.gauss(math.log(1800), 0.95))
    return max(9900, min(4_000_000, round(dollars / 10) * 1000))


def _domain(rng: random.Random, company: str) -> str:
    if rng.random() < 0.15:
        return rng.choice(list(TYPOS))
    return company.lower().split()[0] + ".example"


def some_day(rng: random.Random, first: int, stop: int) -> int:
    """A day offset in ``[first, stop)``; a run too short for that range uses ``first``."""
    return rng.randrange(first, stop) if stop > first else first


def mistype(rng: random.Random, email: str) -> str:
    """The kinds of typo people make typing an email into a payment form."""
    local, _, domain = email.partition("@")
    if domain in TYPOS:
        return f"{local}@{TYPOS[domain]}"
    i = rng.randrange(1, len(local) - 1)
    if rng.random() < 0.5:  # two letters swapped
        local = local[: i - 1] + local[i] + local[i - 1] + local[i + 1 :]
    else:  # a letter left out
        local = local[:i] + local[i + 1 :]
    return f"{local}@{domain}"


def generate(
    *,
    seed: int = 7,
    customers: int = 40,
    days: int = 30,
    start: datetime | None = None,
    timezone: str = "America/New_York",
) -> Scenario:
    """A company with ``customers`` subscribers over ``days`` days, starting on a working day."""
    rng = random.Random(seed)
    calendar = WorkingCalendar(timezone, "US")
    start = start or datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    until = start + timedelta(days=days)
    names: set[str] = set()
    people: list[dict[str, Any]] = []
    happenings: list[dict[str, Any]] = []

    def at(day: int, hour: int, minute: int = 0) -> str:
        local = calendar.at_local(
            calendar.business_date(start) + timedelta(days=day), time(hour, minute)
        )
        return local.astimezone(calendar.tz).isoformat()

    for index in range(customers):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        while name in names:
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        names.add(name)
        cid = f"c{index:03d}"
        domain = _domain(rng, name)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        owner, handle = rng.choice(OWNERS)
        mrr = _mrr(rng)
        people.append(
            {
                "id": cid,
                "name": name,
                "email": f"billing@{domain}",
                "mrr_trailing_3m": mrr,
                "ap_contact": {
                    "name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}@{domain}".replace("á", "a").replace(
                        "é", "e"
                    ),
                },
                "relationship_owner": {"name": owner, "email": f"{handle}@ourco.example"},
                "subscription": {"id": f"sub_{cid}", "amount": mrr, "interval": "month"},
            }
        )
        billing_day = rng.randrange(0, max(1, days - 2))
        invoice = f"in_{cid}_1"
        number = f"INV-{2026 + (billing_day > 30)}-{index:04d}"
        if rng.random() < 0.18:
            code, decline, _ = rng.choices(DECLINES, weights=[w for *_, w in DECLINES])[0]
            happenings.append(
                {
                    "at": at(billing_day, 10),
                    "type": "payment_fails",
                    "customer": cid,
                    "invoice": invoice,
                    "invoice_number": number,
                    "amount": mrr,
                    "code": code,
                    **({"decline_code": decline} if decline else {}),
                    "smart_retry_recovers": rng.random() < 0.35,
                }
            )
            if rng.random() < 0.4:
                happenings.append(
                    {
                        "at": at(min(days - 1, billing_day + rng.randint(3, 9)), 11),
                        "type": "card_updated",
                        "customer": cid,
                    }
                )
        else:
            happenings.append(
                {
                    "at": at(billing_day, 10),
                    "type": "payment",
                    "customer": cid,
                    "invoice": invoice,
                    "invoice_number": number,
                    "amount": mrr,
                }
            )

    # Daily automatic payouts of what settled, on every working day.
    for day in range(1, days):
        local = calendar.business_date(start) + timedelta(days=day)
        if calendar.is_working_day(local):
            happenings.append({"at": at(day, 6), "type": "payout"})
    # Planted anomalies: orphan payments (a mistyped email, a Checkout link), duplicate invoices.
    for n in range(max(1, customers // 20)):
        victim = rng.choice(people)
        happenings.append(
            {
                "at": at(some_day(rng, 1, days - 1), 14, n),
                "type": "orphan_payment",
                "email": mistype(rng, victim["ap_contact"]["email"]),
                "email_typo_of": victim["id"],
                "amount": victim["mrr_trailing_3m"],
                "via": "checkout_link" if n % 2 else "portal",
            }
        )
    for n in range(max(1, customers // 25)):
        victim = rng.choice(people)
        happenings.append(
            {
                "at": at(some_day(rng, 1, days - 1), 15, n),
                "type": "duplicate_invoice",
                "customer": victim["id"],
                "amount": victim["mrr_trailing_3m"],
                "kept_invoice_number": f"INV-K-{n:03d}",
                "duplicate_invoice_number": f"INV-D-{n:03d}",
            }
        )
    # Card spend in Ramp, some without a legible receipt.
    for n in range(customers // 2):
        merchant, amount, _category = rng.choice(MERCHANTS)
        happenings.append(
            {
                "at": at(some_day(rng, 0, days - 1), 12, n % 60),
                "type": "ramp_transaction",
                "cardholder": rng.choice(["alex", "sam", "jordan", "riley"]),
                "merchant": merchant,
                "amount": int(amount * rng.uniform(0.6, 1.4)),
                "receipt": rng.choices(["legible", "illegible", "none"], [80, 10, 10])[0],
            }
        )

    happenings.sort(key=lambda h: (h["at"], h["type"]))
    return parse(
        {
            "name": f"demo-seed{seed}",
            "company": {
                "name": "Our Company",
                "timezone": timezone,
                "holiday_country": "US",
                "currency": "usd",
                "people": PEOPLE,
            },
            "start": start.astimezone(calendar.tz).isoformat(),
            "until": until.astimezone(calendar.tz).isoformat(),
            "customers": people,
            "happenings": happenings,
        }
    )
