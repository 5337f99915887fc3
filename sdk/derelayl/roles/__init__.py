"""What each kind of participant does in each phase of a round.

A role answers, for one round and phase, "act now" (`bidding`, `training`,
`committing`, `revealing`), each returning True once nothing is left to do in that
phase (the loop then only watches the deadline), and `every_step`, run on every poll.
`derelayl.participant.Participant` owns the loop, the state folder and the chain
client; a role reaches them through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derelayl.protocol import Phase

if TYPE_CHECKING:
    from derelayl.participant import Participant


class Role:
    """Base of the roles: by default nothing to do in any phase."""

    def __init__(self, agent: "Participant") -> None:
        self.agent = agent
        self.client = agent.client
        self.log = agent.log

    def every_step(self, r: int, phase: Phase) -> None:
        """Runs on every poll, before the phase's handler."""

    def bidding(self, r: int) -> bool:
        return True

    def training(self, r: int) -> bool:
        return True

    def committing(self, r: int) -> bool:
        return True

    def revealing(self, r: int) -> bool:
        return True
