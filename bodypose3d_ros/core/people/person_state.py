"""Per-person state keyed by track id: created on first sight, freed when the id is lost.

Smoothing filters and bone-length estimates both follow a tracked person; keeping their life cycle
in one place means every such state is freed the same way when the tracker drops an id (NVIDIA's
reference app never frees its filter state).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

State = TypeVar("State")


class PersonStates(Generic[State]):
    """A dict of per-person states; subclasses say how a new person's state is made."""

    def __init__(self) -> None:
        self._people: dict[str, State] = {}

    def _create(self) -> State:
        raise NotImplementedError

    def _state_of(self, person_id: str) -> State:
        """The person's state, created on first sight."""
        state = self._people.get(person_id)
        if state is None:
            state = self._people[person_id] = self._create()
        return state

    def retain(self, active_ids: Iterable[str]) -> list[str]:
        """Free the state of everyone not in ``active_ids``; returns the ids freed."""
        active = set(active_ids)
        gone = [person_id for person_id in self._people if person_id not in active]
        for person_id in gone:
            del self._people[person_id]
        return gone

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._people
