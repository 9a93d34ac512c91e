"""Answer an impossible lifecycle transition with ``success=False`` instead of dying.

On the rclpy versions Humble and Jazzy ship, ``change_state`` with a transition id the current
state does not have (1 = configure while active, or 99) raises ``RCLError`` inside rclpy's own
service handler; the exception leaves the executor and the node process ends. The handler is
wrapped so that error becomes a normal negative answer (fixed the same way in later rclpy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle_msgs.srv import ChangeState
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode

Handler = Callable[[ChangeState.Request, ChangeState.Response], ChangeState.Response]


def guard_change_state(node: LifecycleNode, on_refused: Callable[[str], None]) -> bool:
    """Wrap ``node``'s change_state service handler; returns False where rclpy has none to wrap.

    ``on_refused`` receives a message naming the refused transition and the current state.
    """
    service: Any = getattr(node, "_service_change_state", None)
    if service is None or not callable(getattr(service, "callback", None)):
        return False
    original: Handler = service.callback

    def guarded(request: ChangeState.Request, response: ChangeState.Response) -> Any:
        try:
            return original(request, response)
        except _rclpy.RCLError as error:
            state = node._state_machine.current_state[1]
            transition = request.transition
            on_refused(
                f"refused lifecycle transition id={transition.id} "
                f"label={transition.label[:64]!r} in state '{state}': "
                f"{str(error).splitlines()[0][:200]}"
            )
            response.success = False
            return response

    service.callback = guarded
    return True
