"""What each kind of participant does in each phase of a round.

A role answers, for one round and phase, "act now" (`bidding`, `training`,
`committing`, `revealing`), each returning True once nothing is left to do in that
phase (the loop then only watches the deadline), and `every_step`, run on every poll.
`derelayl.participant.Participant` owns the loop, the state folder and the chain
client; a role reaches them through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derelayl import crypto
from derelayl.types import Phase

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

    def bundle_slots(self, r: int, keys: list[bytes], first: bool, what: str) -> bool:
        """In a merge relay, as a holder of every key of round `r`'s parent layer (`keys`,
        in layer order): seals them as one bundle to each slot that needs it. A holder
        whose turn is `first` bundles every slot at once; the others a slot that still
        has none at half-time of Training (the first went away); every holder at once a
        slot whose trainer asked again (`KeyRequested`: its bundle does not open the
        layer). Each slot gets this participant's bundle once. Done (True) once every
        slot it could serve is submitted or served, or the key window closed. `what`
        names the keys in the log."""
        a = self.agent
        info = self.client.round_info(r)
        if a.key_window_closed(info.courier_deadline):
            return True  # too late: bundles are taken in the first three quarters of Training only
        mine = a.round_state(r).setdefault("bundled", [])
        requested = {e["slot"] for e in self.client.events("KeyRequested", round=r)}
        waiting = False
        for slot, s in enumerate(self.client.slots(r)):
            if s.submitted or slot in mine:
                continue
            asked = slot in requested
            if not asked and (s.delivered or not (first or a.past_half_time(info))):
                waiting = True  # another holder's turn first; a delivered bundle may yet fail
                continue
            self.client.deliver_bundle(r, slot, crypto.seal_bundle(keys, self.client.public_key_of(s.trainer)))
            mine.append(slot)
            a.state.save()
            why = "its trainer asked again" if asked else "its turn" if first else "no bundle by half-time"
            self.log(f"round {r}: bundled {what} to slot {slot} ({why})")
        return not waiting
