"""The controls an operator uses — the emergency stop, a playbook's mode — in tests."""

from __future__ import annotations

from datetime import datetime

from revline.core import controls
from revline.core.runtime import Runtime
from revline.sandbox.world import Later, World


def set_mode(runtime: Runtime, playbook: str, mode: str, actor: str = "user:maya") -> str:
    """A playbook's mode set now, as an operator sets it."""
    with runtime.db.write() as session:
        controls.set_mode(
            session,
            runtime.ledger,
            playbook=playbook,
            mode=mode,
            actor=actor,
            now=runtime.clock.now(),
            settings=runtime.settings,
        )
    return f"{playbook} {mode}"


def press(runtime: Runtime, *, stop: bool) -> str:
    """Maya presses the emergency stop (``stop``) or lifts it, now."""
    with runtime.db.write() as session:
        now = runtime.clock.now()
        if stop:
            controls.stop(session, runtime.ledger, actor="user:maya", reason="audit", now=now)
        else:
            controls.resume(session, runtime.ledger, actor="user:maya", now=now)
    return "the emergency stop " + ("pressed" if stop else "lifted")


def emergency_stop(world: World, at: datetime, *, stop: bool) -> None:
    """The stop pressed (or lifted) at ``at`` in the run."""
    what = "the controller presses the emergency stop" if stop else "the stop is lifted"
    world.later.append(Later(at, what, lambda: press(world.runtime, stop=stop)))
