"""The sync server's control logic on the ``python-statemachine`` library: the same conditions and
callbacks as the ``transitions`` baseline (``ServerLogic``), with the states and transitions
declared the way that library declares them. Like the other baseline it must first emit exactly
the effects the pure machine emits for the same events (checked before any timing)."""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine

from benchmarks.transitions_baseline import ServerLogic
from blockfsm.machine.core import Tick
from blockfsm.machine.sync_server import SyncServerConfig


class StateMachineServer(ServerLogic, StateMachine):  # type: ignore[misc]
    """The server as a ``python-statemachine`` machine that is its own model; ``handle`` returns
    the effects of one event. The library passes the trigger's keyword arguments (``ev``,
    ``view``) to the conditions and actions by name."""

    starting = State(initial=True)
    serving = State()

    tick = (
        starting.to.itself(internal=True, cond="regressed", on="refuse_clock")
        | starting.to(serving, cond="due", on="advertise")
        | starting.to.itself(internal=True, on="advance")
        | serving.to.itself(internal=True, cond="regressed", on="refuse_clock")
        | serving.to.itself(internal=True, cond="due", on="advertise")
        | serving.to.itself(internal=True, on="advance")
    )
    request = starting.to.itself(internal=True, on="serve") | serving.to.itself(
        internal=True, on="serve"
    )

    def __init__(self, config: SyncServerConfig) -> None:
        self.reset_model(config)
        super().__init__()

    def handle(self, event: Any, view: Any) -> tuple[Any, ...]:
        if type(event) is Tick:
            self.tick(ev=event, view=view)
        else:
            self.request(ev=event, view=view)
        return self.effects
