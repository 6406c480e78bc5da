"""A fake provider that records effects per idempotency key (in memory)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from revline.providers.base import ActionRequest, ProviderError


class EffectRecorder:
    """Applies each idempotency key's effect once, like a provider honouring Idempotency-Key.

    ``fail_next`` makes the next calls raise (retryable or not) to exercise the retry policy.
    """

    def __init__(self) -> None:
        self.effects: dict[str, Mapping[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.failures: list[ProviderError] = []
        self._lock = threading.Lock()

    def fail_next(self, *errors: ProviderError) -> None:
        self.failures.extend(errors)

    def __call__(self, request: ActionRequest) -> Mapping[str, Any]:
        with self._lock:
            self.calls[request.idempotency_key] += 1
            if self.failures:
                raise self.failures.pop(0)
            if request.idempotency_key not in self.effects:
                self.effects[request.idempotency_key] = dict(request.params)
            return {
                "id": f"fx_{len(self.effects)}",
                "replayed": self.calls[request.idempotency_key] > 1,
            }
