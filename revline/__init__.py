"""Revline: a revenue-operations orchestrator for Stripe, NetSuite and Ramp."""

__version__ = "0.1.0"
