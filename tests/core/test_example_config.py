"""The example configuration shipped with Revline loads and matches the defaults."""

from __future__ import annotations

from pathlib import Path

from revline.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "revline.toml.example"


def test_example_is_valid_and_states_the_defaults() -> None:
    from_example = load_settings(EXAMPLE)
    defaults = load_settings()
    assert from_example.policy == defaults.policy
    assert from_example.executor == defaults.executor
    assert from_example.company == defaults.company
