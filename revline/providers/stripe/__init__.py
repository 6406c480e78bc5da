"""Stripe: the adapter (``client``), its records and errors, the action handlers, the events
catch-up, and a simulator (``sim``) that speaks the same wire protocol."""
