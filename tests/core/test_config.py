"""Configuration: the seeds' thresholds as defaults, file and environment, clear errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from revline.config import load_settings
from revline.errors import ConfigError


def test_defaults_are_the_procedures_thresholds() -> None:
    policy = load_settings().policy
    assert policy.high_value_mrr_threshold == 500_000  # $5,000 MRR
    assert policy.retry_interval_working_days == 3
    assert policy.retry_pause_weekdays == [4]  # the cadence pauses on Fridays
    assert policy.max_manual_retries == 3
    assert policy.recognition_hold_after_failures == 2
    assert policy.processing_fee_gl == "6700-8"
    assert policy.saas_gl == "6610"
    assert policy.virtual_card_cap_percent == 110
    assert policy.close_variance_threshold == 500  # $5
    assert policy.close_working_day == 2
    assert policy.orphan_outreach_after_minutes == 10
    assert policy.safety_window_hours == 72
    assert policy.retry_time == time(9, 0)
    assert policy.refund_approval_threshold > 0


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "revline.toml"
    config.write_text(
        'database_url = "sqlite:///elsewhere.db"\n'
        "[company]\n"
        'timezone = "Europe/London"\n'
        'holiday_country = "GB"\n'
        "[policy]\n"
        "high_value_mrr_threshold = 750000\n"
        'retry_time = "10:30"\n'
    )
    monkeypatch.setenv("REVLINE_POLICY__MAX_MANUAL_RETRIES", "4")
    monkeypatch.setenv("REVLINE_STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    settings = load_settings(config)
    assert settings.database_url == "sqlite:///elsewhere.db"
    assert settings.company.timezone == "Europe/London"
    assert settings.policy.high_value_mrr_threshold == 750_000
    assert settings.policy.retry_time == time(10, 30)
    assert settings.policy.max_manual_retries == 4
    assert settings.webhook_secrets("stripe") == ["whsec_from_env"]
    monkeypatch.setenv("REVLINE_DATABASE_URL", "sqlite:///env-wins.db")
    assert load_settings(config).database_url == "sqlite:///env-wins.db"


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ('[policy]\nhigh_value_mrr_threshold = "lots"\n', "policy.high_value_mrr_threshold"),
        ("[policy]\nclose_variance_threshold = -5\n", "policy.close_variance_threshold"),
        ("[policy]\nno_such_rule = 1\n", "policy.no_such_rule"),
        ('[company]\ntimezone = "Mars/Olympus"\n', "Mars/Olympus"),
        ("[policy\n", "invalid configuration file"),
        ('[[policy.approval_rules]]\naction = "x"\nabove = 1\nrole = "boss"\n', "role"),
        ('[netsuite]\ndeposit_bank_accounts = { EURO = "1010" }\n', "'EURO' is not an ISO 4217"),
        ('[netsuite]\ndeposit_bank_accounts = { XYZ = "1010" }\n', "'XYZ' is not an ISO 4217"),
        ('[netsuite]\ndeposit_bank_accounts = { EUR = " " }\n', "number for EUR is empty"),
    ],
)
def test_invalid_file_names_the_key(tmp_path: Path, toml: str, names: str) -> None:
    config = tmp_path / "revline.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_settings(config)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_rotation_accepts_two_secrets() -> None:
    settings = load_settings(
        stripe_webhook_secret="whsec_new", stripe_webhook_secret_previous="whsec_old"
    )
    assert settings.webhook_secrets("stripe") == ["whsec_new", "whsec_old"]
    assert settings.webhook_secrets("ramp") == []
    assert "whsec_new" not in repr(settings)


@pytest.mark.parametrize(
    ("executor", "renewal"),
    [
        ({}, 30.0),  # a quarter of the 120 s lease
        ({"lease_seconds": 1.0}, 0.25),  # a short lease renews as often, and still loads
        ({"lease_seconds": 60.0, "lease_renew_seconds": 20.0}, 20.0),
    ],
)
def test_a_batchs_leases_are_renewed_well_before_they_run_out(
    executor: dict[str, float], renewal: float
) -> None:
    assert load_settings(executor=executor).executor.lease_renewal == renewal


def test_a_renewal_no_sooner_than_the_lease_runs_out_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"lease_renew_seconds \(120.0\) must be under"):
        load_settings(executor={"lease_seconds": 120.0, "lease_renew_seconds": 120.0})
