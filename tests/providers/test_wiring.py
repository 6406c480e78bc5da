"""Configured providers are wired in; unconfigured ones are absent, not half-present."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from revline.config import Mail, Ramp
from revline.core.runtime import from_settings
from revline.db.migrate import upgrade
from tests.conftest import make_settings


def test_nothing_configured_nothing_installed(tmp_path: Path) -> None:
    runtime = from_settings(make_settings(f"sqlite:///{tmp_path}/r.db"))
    assert runtime.adapters == {}
    providers = {"stripe", "netsuite", "ramp", "email"}
    assert [k for k in runtime.handlers.kinds() if k.split(".")[0] in providers] == []
    assert runtime.jobs == []


def test_every_configured_provider_brings_its_actions_and_jobs(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/r.db",
        stripe_api_key="sk_test_wiring",
        stripe_api_base="http://127.0.0.1:9",
        netsuite={
            "account_id": "1234567_SB1",
            "base_url": "http://127.0.0.1:9",
            "consumer_key": "ck",
            "consumer_secret": "cs",
            "token_id": "ti",
            "token_secret": "ts",
            "restlet_url": "http://127.0.0.1:9/restlet",
        },
        ramp=Ramp(
            api_base="http://127.0.0.1:9",
            client_id=SecretStr("id"),
            client_secret=SecretStr("secret"),
        ),
        mail=Mail(host="127.0.0.1", port=2525, starttls=False),
    )
    runtime = from_settings(settings)
    upgrade(runtime.db)
    assert sorted(runtime.adapters) == ["mail", "netsuite", "ramp", "stripe"]
    assert runtime.enrichment.adapters is runtime.adapters
    kinds = set(runtime.handlers.kinds())
    assert {
        "stripe.invoice.pay",
        "stripe.invoice.stop_auto_retry",
        "stripe.customer.suppress_dunning",
        "stripe.customer.restore_dunning",
        "stripe.portal_link.create",
        "stripe.refund.create",
        "netsuite.revenue.hold",
        "netsuite.revenue.resume",
        "netsuite.deposit.create",
        "netsuite.invoice.void",
        "netsuite.customer.log_message",
        "email.send",
        "ramp.transaction.approve",
        "ramp.transaction.reject",
        "ramp.card.create",
    } <= kinds
    assert [job.name for job in runtime.jobs] == ["stripe_catch_up", "ramp_catch_up"]
