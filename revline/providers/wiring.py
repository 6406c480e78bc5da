"""Connect the configured providers to a runtime.

For each provider with credentials in the settings: build its adapter, register its action
handlers with the executor, offer the adapter to playbooks' ``enrich`` (``Enrichment.adapters``),
and schedule its periodic jobs. A provider without credentials is simply absent: its actions go
to the manual queue with "no adapter is registered", and ``revline doctor`` says what is missing.
"""

from __future__ import annotations

from datetime import timedelta

from revline.core.runtime import Runtime

CATCH_UP_INTERVAL = timedelta(minutes=5)


def install(runtime: Runtime) -> list[str]:
    """Wire every configured provider into ``runtime``; returns the providers installed."""
    settings = runtime.settings
    installed = []
    from revline.playbooks.cash import close_actions, flags

    flags.register(runtime.handlers, runtime.db, runtime.clock)
    close_actions.register(
        runtime.handlers,
        runtime.db,
        runtime.clock,
        books=runtime.enrichment,
        policy=runtime.settings.policy,
    )
    if settings.stripe_api_key is not None:
        from revline.providers.stripe import actions as stripe_actions
        from revline.providers.stripe.catchup import StripeCatchUp
        from revline.providers.stripe.client import StripeAdapter

        stripe = StripeAdapter.from_settings(settings, clock=runtime.clock)
        stripe_actions.register(runtime.handlers, stripe)
        runtime.adapters["stripe"] = stripe
        runtime.jobs.append(StripeCatchUp(stripe, runtime.db).job(CATCH_UP_INTERVAL))
        installed.append("stripe")
    if settings.netsuite.account_id is not None:
        from revline.providers.netsuite import actions as netsuite_actions
        from revline.providers.netsuite import pipeline as netsuite_pipeline
        from revline.providers.netsuite.client import NetSuiteAdapter

        netsuite = NetSuiteAdapter.from_settings(settings, clock=runtime.clock)
        netsuite_actions.register(
            runtime.handlers, netsuite, processing_fee_gl=settings.policy.processing_fee_gl
        )
        netsuite_pipeline.register(runtime.handlers, netsuite)
        runtime.adapters["netsuite"] = netsuite
        installed.append("netsuite")
    if settings.ramp.client_id is not None and settings.ramp.client_secret is not None:
        from revline.providers.ramp import actions as ramp_actions
        from revline.providers.ramp.catchup import RampCatchUp
        from revline.providers.ramp.client import RampAdapter

        ramp = RampAdapter.from_settings(settings.ramp, currency=settings.company.currency.upper())
        ramp_actions.register(runtime.handlers, ramp)
        runtime.adapters["ramp"] = ramp
        runtime.jobs.append(RampCatchUp(ramp, runtime.db).job(CATCH_UP_INTERVAL))
        installed.append("ramp")
    if settings.mail.host is not None:
        from revline.providers.mail import actions as mail_actions
        from revline.providers.mail.client import MailAdapter

        mail = MailAdapter.from_settings(settings.mail, clock=runtime.clock)
        mail_actions.register(runtime.handlers, mail)
        runtime.adapters["mail"] = mail
        installed.append("mail")
    return installed
