"""The emergency stop and playbook modes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from sqlalchemy.orm import Session

from revline.api.errors import ErrorBody
from revline.api.schemas import (
    ControlRequest,
    ControlsOut,
    ModeRequest,
    ResumeRequest,
    StopOut,
    StopRequest,
)
from revline.api.security import (
    MANAGE_ROLES,
    READ_ROLES,
    STOP_ROLES,
    check_role,
    require,
    runtime_of,
)
from revline.core import controls
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.errors import InvalidRequest

router = APIRouter(
    prefix="/api/controls",
    tags=["controls"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read controls"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@router.get("", response_model=ControlsOut)
def get_controls(runtime: RuntimeDep, _: Reader) -> ControlsOut:
    """Whether the emergency stop is on, and the mode of every registered playbook."""
    with runtime.db.read() as session:
        return _state(session, runtime)


@router.post(
    "",
    response_model=ControlsOut,
    responses={
        400: {"model": ErrorBody, "description": "unknown playbook or invalid mode"},
        409: {"model": ErrorBody, "description": "stop already on, or resume while running"},
    },
)
def change_controls(
    runtime: RuntimeDep,
    principal: Reader,
    body: Annotated[ControlRequest, Body(discriminator="action")],
) -> ControlsOut:
    """Press the emergency stop (any operating role), lift it, or set a playbook's mode
    (admin and revops_manager). Every change writes a ledger row."""
    if isinstance(body, StopRequest):
        check_role(principal, STOP_ROLES, "press the emergency stop")
    elif isinstance(body, ResumeRequest):
        check_role(principal, MANAGE_ROLES, "lift the emergency stop")
    else:
        check_role(principal, MANAGE_ROLES, "change playbook modes")
    now = runtime.clock.now()
    requeued = None
    with runtime.db.write() as session:
        if isinstance(body, StopRequest):
            controls.stop(
                session, runtime.ledger, actor=principal.actor, reason=body.reason, now=now
            )
        elif isinstance(body, ResumeRequest):
            requeued = controls.resume(session, runtime.ledger, actor=principal.actor, now=now)
        else:
            _set_mode(session, runtime, principal, body)
        state = _state(session, runtime)
    return state.model_copy(update={"requeued": requeued})


def _set_mode(session: Session, runtime: Runtime, principal: Principal, body: ModeRequest) -> None:
    if runtime.playbooks.get(body.playbook) is None:
        known = ", ".join(runtime.playbooks.names()) or "none"
        raise InvalidRequest(f"no playbook named {body.playbook!r} (registered: {known})")
    controls.set_mode(
        session,
        runtime.ledger,
        playbook=body.playbook,
        mode=body.mode,
        actor=principal.actor,
        now=runtime.clock.now(),
        settings=runtime.settings,
    )


def _state(session: Session, runtime: Runtime) -> ControlsOut:
    stop = controls.stop_state(session)
    return ControlsOut(
        stop=StopOut(stopped=stop.stopped, reason=stop.reason, by=stop.by, at=stop.at),
        modes=controls.all_modes(session, runtime.settings, runtime.playbooks.names()),
    )
