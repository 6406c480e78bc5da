"""Prometheus metrics, exposed at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "revline_webhooks_total", "Webhook deliveries by source and outcome", ["source", "outcome"]
)
INGEST_SECONDS = Histogram(
    "revline_ingest_seconds",
    "Time from request to durable acknowledgement",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
EVENTS_ROUTED = Counter("revline_events_routed_total", "Events routed, by outcome", ["outcome"])
TIMER_FAILURES = Counter(
    "revline_timer_failures_total",
    "Case timers whose decision failed and was postponed with backoff, by error",
    ["error"],
)
DECISIONS = Counter("revline_decisions_total", "Playbook decisions", ["playbook", "mode"])
CONTRADICTIONS = Counter(
    "revline_contradictions_total",
    "Decisions on events that contradicted earlier ones: pending actions cancelled, or a late "
    "event overruled by the true final state",
    ["playbook"],
)
ACTIONS = Counter(
    "revline_actions_total", "Action status changes by the executor", ["kind", "status"]
)
ATTEMPTS = Counter("revline_provider_attempts_total", "Provider calls by outcome", ["outcome"])
