"""Settings and policy, from ``revline.toml`` and ``REVLINE_*`` environment variables.

Environment variables win over the file; nested keys use ``__`` (``REVLINE_POLICY__RETRY_TIME``).
Every threshold, GL code and cadence the procedures name lives in ``[policy]``, so a finance team
changes a rule by editing configuration, not code. Amounts are minor units of the company currency.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from babel.numbers import list_currencies
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from revline.clock import WorkingCalendar
from revline.errors import ConfigError

Role = Literal[
    "admin",
    "billing_analyst",
    "ar_specialist",
    "revops_manager",
    "fpa_analyst",
    "spend_ops_lead",
    "team_owner",
    "viewer",
    "agent",
]
ROLES: tuple[str, ...] = get_args(Role)

MinorUnits = Annotated[int, Field(ge=0)]


class ApprovalRule(BaseModel):
    """An amount threshold above which an action kind needs a person with ``role``.

    ``above`` is in the company currency; ``above_in`` gives the threshold in other currencies,
    each in its own minor units. An amount in a currency with no threshold always needs the
    role: Revline converts no currencies, so it cannot tell whether £1,000 is above $1,000.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(description="action kind, e.g. stripe.refund.create")
    above: MinorUnits = Field(description="amounts strictly above this need approval")
    above_in: dict[str, MinorUnits] = Field(
        default={}, description="the threshold in other currencies: ISO code to minor units"
    )
    role: Role

    @field_validator("above_in")
    @classmethod
    def _codes_in_lower_case(cls, value: dict[str, int]) -> dict[str, int]:
        return {code.lower(): amount for code, amount in value.items()}


class Policy(BaseModel):
    """The rules of the procedures, each named after the seed that sets it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Failed payments (seed 000 "Retrying a failed charge", seed 002 high-value dunning).
    high_value_mrr_threshold: MinorUnits = 500_000  # in the company's currency
    # The threshold for customers billed in another currency: ISO code to minor units. One the
    # policy does not name is a person's call, not a guess at a rate.
    high_value_mrr_threshold_in: dict[str, MinorUnits] = {}
    retry_interval_working_days: Annotated[int, Field(ge=1)] = 3
    retry_time: time = time(9, 0)
    retry_pause_weekdays: list[Annotated[int, Field(ge=0, le=6)]] = [4]
    max_manual_retries: Annotated[int, Field(ge=1)] = 3
    recognition_hold_after_failures: Annotated[int, Field(ge=1)] = 2
    retryable_decline_codes: list[str] = ["card_declined", "insufficient_funds"]
    hard_decline_codes: list[str] = [
        "lost_card",
        "stolen_card",
        "expired_card",
        "fraudulent",
        "pickup_card",
        "restricted_card",
    ]
    high_value_email_requires_approval: bool = True

    # Cash (seed 000 "Invoice reconciliation", "Month-end close").
    processing_fee_gl: str = "6700-8"
    payout_reconciliation_time: time = time(8, 0)
    orphan_outreach_after_minutes: Annotated[int, Field(ge=0)] = 10
    close_variance_threshold: MinorUnits = 500
    close_working_day: Annotated[int, Field(ge=1, le=23)] = 2
    close_time: time = time(9, 0)  # after the morning's payout reconciliation has deposited
    refunds_gl: str = "4090"  # refunds on a payout: their own deposit line, never netted
    stripe_adjustments_gl: str = "6710"  # disputes and other balance adjustments on a payout
    payout_lookback_days: Annotated[int, Field(ge=1, le=31)] = 7  # payouts not yet deposited
    match_amount_drift: MinorUnits = 0  # tolerance tier: same customer, amount within this
    match_date_window_days: Annotated[int, Field(ge=0, le=31)] = 3
    # Two paid invoices of one obligation this close together are a duplicate; well under a
    # billing period, so next month's invoice for the same amount never is.
    duplicate_invoice_window_days: Annotated[int, Field(ge=0, le=27)] = 7

    # Spend (seed 000 "Spend approval").
    saas_gl: str = "6610"
    virtual_card_cap_percent: Annotated[int, Field(ge=100, le=1000)] = 110

    # Guardrails (seed 004): refunds above an amount need a manager, flagged cases go to a
    # person, irreversible actions wait out a safety window.
    refund_approval_threshold: MinorUnits = 100_000
    # The same threshold for refunds in other currencies (ISO code: minor units); a refund in a
    # currency not listed always waits for the role.
    refund_approval_threshold_in: dict[str, MinorUnits] = {}
    refund_approval_role: Role = "revops_manager"
    approval_rules: list[ApprovalRule] = []
    blocking_flags: list[str] = ["dispute_open", "fraud_suspected"]
    blocking_flag_role: Role = "revops_manager"
    # Approvals only these roles give, an admin not standing in: the FP&A analyst signs the
    # month-end close (seed 000, "Month-end close").
    exclusive_approval_roles: list[Role] = ["fpa_analyst"]
    safety_window_hours: Annotated[int, Field(ge=0, le=24 * 14)] = 72
    irreversible_actions: list[str] = [
        "stripe.subscription.cancel",
        "stripe.subscription.downgrade",
        "access.suspend",
    ]

    @field_validator("high_value_mrr_threshold_in")
    @classmethod
    def _threshold_codes_in_lower_case(cls, value: dict[str, int]) -> dict[str, int]:
        return {code.lower(): amount for code, amount in value.items()}

    @field_validator("retry_pause_weekdays")
    @classmethod
    def _no_full_week(cls, value: list[int]) -> list[int]:
        if len(set(value)) > 4:
            raise ValueError("at least one weekday besides the weekend must stay a working day")
        return value

    def approval_rules_with_defaults(self) -> list[ApprovalRule]:
        """The configured rules plus the refund threshold, which every company has."""
        refund = ApprovalRule(
            action="stripe.refund.create",
            above=self.refund_approval_threshold,
            above_in=self.refund_approval_threshold_in,
            role=self.refund_approval_role,
        )
        return [refund, *self.approval_rules]


class Person(BaseModel):
    """Somebody the procedures name: emails go from and to real people, not shared mailboxes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    email: str


class Company(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "Our Company"
    # Keyed by the procedures' roles: senior_revops_manager, billing_analyst, ar_specialist,
    # fpa_analyst, spend_ops_lead.
    people: dict[str, Person] = {}
    timezone: str = "America/New_York"
    holiday_country: str = "US"
    holiday_subdivision: str | None = None
    currency: str = "usd"
    locale: str = "en_US"

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.timezone, self.holiday_country, self.holiday_subdivision)


class Executor(BaseModel):
    """How the action executor retries and leases work."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: Annotated[int, Field(ge=1)] = 8
    backoff_base_seconds: Annotated[float, Field(gt=0)] = 2.0
    backoff_cap_seconds: Annotated[float, Field(gt=0)] = 600.0
    lease_seconds: Annotated[float, Field(gt=0)] = 120.0
    # How often a worker renews the leases of the batch it is carrying out, under
    # ``lease_seconds`` (unset: a quarter of it): a call slower than the lease is never taken
    # over while it runs.
    lease_renew_seconds: Annotated[float | None, Field(gt=0)] = None
    max_abandoned: Annotated[int, Field(ge=1)] = 5
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 0.5
    event_max_attempts: Annotated[int, Field(ge=1)] = 10

    @property
    def lease_renewal(self) -> float:
        """Seconds between two renewals of a batch's leases."""
        return self.lease_renew_seconds or self.lease_seconds / 4

    @model_validator(mode="after")
    def _renewed_before_it_runs_out(self) -> Executor:
        if self.lease_renew_seconds is not None and self.lease_renew_seconds >= self.lease_seconds:
            raise ValueError(
                f"lease_renew_seconds ({self.lease_renew_seconds}) must be under lease_seconds "
                f"({self.lease_seconds}): a lease renewed after it ran out may be another "
                "worker's by then"
            )
        return self


class NetSuite(BaseModel):
    """SuiteTalk REST. ``auth`` is ``tba`` (token-based, OAuth 1.0a HMAC-SHA256) or ``oauth2``
    (client credentials with a JWT assertion signed by the integration's certificate key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str | None = None
    base_url: str | None = None  # default https://<account>.suitetalk.api.netsuite.com
    auth: Literal["tba", "oauth2"] = "tba"
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    token_id: SecretStr | None = None
    token_secret: SecretStr | None = None
    client_id: SecretStr | None = None
    certificate_id: str | None = None
    private_key_pem: SecretStr | None = None
    restlet_url: str | None = None  # the deployed Revline RESTlet (void, revenue hold/release)
    deposit_bank_account: str | None = None  # account number deposits go to; None: the only bank
    # A payout in another currency settles into the bank account Stripe pays that currency to:
    # its NetSuite account number by currency code ({EUR = "1010"}), before the default above.
    deposit_bank_accounts: dict[str, str] = Field(default_factory=dict)
    concurrency_limit: Annotated[int, Field(ge=1, le=100)] = 5

    @field_validator("deposit_bank_accounts")
    @classmethod
    def _currency_codes_and_account_numbers(cls, value: dict[str, str]) -> dict[str, str]:
        # A key that is no currency code, or an empty number, would never be used: the deposit
        # would go to the default account without a word, so it is refused here.
        for code, number in value.items():
            if code.upper() not in list_currencies():
                raise ValueError(f"{code!r} is not an ISO 4217 currency code (EUR, GBP, ...)")
            if not number.strip():
                raise ValueError(f"the bank account number for {code.upper()} is empty")
        return {code.upper(): number.strip() for code, number in value.items()}


class Ramp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base: str = "https://api.ramp.com"
    client_id: SecretStr | None = None
    client_secret: SecretStr | None = None
    scopes: list[str] = [
        "transactions:read",
        "receipts:read",
        "memos:write",
        "cards:read",
        "cards:write",
        "limits:write",
        "users:read",
        "departments:read",
        "accounting:read",
        "accounting:write",
        "vendors:read",
    ]


class Mail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    username: SecretStr | None = None
    password: SecretStr | None = None


PlaybookMode = str  # "off" | "shadow" | "canary:N" | "live", validated by controls.parse_mode

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("revline_config_file", default=None)


class Settings(BaseSettings):
    """Everything Revline reads at start."""

    model_config = SettingsConfigDict(
        env_prefix="REVLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = "sqlite:///revline-data/revline.db"
    company: Company = Company()
    policy: Policy = Policy()
    executor: Executor = Executor()
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = (
        None  # None: Stripe itself; the sandbox points it at its simulator
    )
    netsuite: NetSuite = NetSuite()
    ramp: Ramp = Ramp()
    mail: Mail = Mail()
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_secret_previous: SecretStr | None = None
    ramp_webhook_secret: SecretStr | None = None
    ramp_webhook_secret_previous: SecretStr | None = None
    webhook_max_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    webhook_tolerance_seconds: Annotated[int, Field(ge=1)] = 300

    @field_validator(
        "stripe_webhook_secret",
        "stripe_webhook_secret_previous",
        "ramp_webhook_secret",
        "ramp_webhook_secret_previous",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # A variable left blank (the previous secret once a rotation is over) is no secret:
        # as a key, anyone could sign with it.
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    # A playbook nobody has switched on only observes: shadow until a person says otherwise.
    default_playbook_mode: PlaybookMode = "shadow"
    playbook_modes: dict[str, PlaybookMode] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_FILE.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def webhook_secrets(self, provider: Literal["stripe", "ramp"]) -> list[str]:
        """Current and previous secret: both are accepted while a rotation is under way."""
        pair = (
            (self.stripe_webhook_secret, self.stripe_webhook_secret_previous)
            if provider == "stripe"
            else (self.ramp_webhook_secret, self.ramp_webhook_secret_previous)
        )
        return [secret.get_secret_value() for secret in pair if secret is not None]


def config_path(explicit: Path | None = None) -> Path | None:
    """``explicit``, else ``$REVLINE_CONFIG``, else ``./revline.toml`` when it exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"configuration file {explicit} does not exist")
        return explicit
    from_env = os.environ.get("REVLINE_CONFIG")
    if from_env:
        return config_path(Path(from_env))
    default = Path("revline.toml")
    return default if default.is_file() else None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate settings; an invalid value fails naming the key and the reason."""
    token = _CONFIG_FILE.set(config_path(path))
    try:
        settings = Settings(**overrides)
        settings.company.calendar()  # an unknown timezone or country fails here, at start
        return settings
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"invalid configuration file: {exc}") from exc
    finally:
        _CONFIG_FILE.reset(token)
