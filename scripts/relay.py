"""Scripted participants that play whole RelayLearning rounds through brownie.

Used by the demo, the tests and the gas benchmark: every participant is a brownie
account, weights are stand-ins (a hash and a CID-shaped string), and each evaluator's
score for a slot comes from a function, so tests can script ties, absences and cheats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_utils import keccak

from derelayl import SCORE_SCALE

ENVELOPE = b"\x5e" * 80  # the size of a NaCl sealed box holding a 32-byte key


def default_score(evaluator, slot: int, trainer: str) -> int:
    """A deterministic score in [0.5, 0.9] that depends on the trainer only."""
    return SCORE_SCALE // 2 + int.from_bytes(keccak(text=trainer.lower())[:4], "big") % (4 * SCORE_SCALE // 10)


@dataclass
class RoundScript:
    """What every participant does in one round (absent = does not act)."""

    offers: dict = field(default_factory=dict)  # MO account -> price per trainer
    bids: dict = field(default_factory=dict)  # trainer account -> bid
    evaluators: list = field(default_factory=list)
    withhold_keys: set = field(default_factory=set)  # MOs that never deliver
    skip_submit: set = field(default_factory=set)  # trainers that never submit
    skip_commit: set = field(default_factory=set)  # evaluators that never commit
    skip_reveal: set = field(default_factory=set)  # evaluators that commit and never reveal
    score: Callable[[object, int, str], int] = default_score
    # A merge relay (MergeRelayLearning): the key holder that delivers every slot the
    # parent layer's key bundle (None: nobody does; offers and withhold_keys are unused).
    bundle_from: object = None


@dataclass
class RoundResult:
    """What happened, for reports and gas figures."""

    round: int
    slots: list
    accepted: list  # (model id, parent id, creator, score)
    outcomes: dict  # slot -> outcome name
    gas: dict = field(default_factory=dict)  # function name -> list of gas used
    transactions: dict = field(default_factory=dict)  # function name -> list of its transactions
    settle_tx: object = None


OUTCOMES = ["Accepted", "Rejected", "NoQuorum", "NotSubmitted", "Undelivered"]


def ensure_key(relay, account, model=None) -> None:
    """Registers a public key for `account` once (a stand-in for its X25519 key)."""
    if int(relay.publicKeyOf(account).hex(), 16) == 0:
        key = keccak(text=f"key:{account.address}")
        relay.registerKey(key, {"from": account}, silent=True)
        if model is not None:
            model.register_key(account.address, key)


def close_bidding(relay, tx_params: dict, silent: bool | None = None):
    """Closes Bidding in its two steps: the first `closeBidding` locks the round at its
    block, the next one (a later block: Ganache mines one per transaction) draws with
    that block's hash. Returns the drawing transaction. If the first call reverts (too
    early, wrong phase), so does this."""
    extra = {} if silent is None else {"silent": silent}
    first = relay.closeBidding(tx_params, **extra)
    if "BiddingClosed" in first.events:
        return first  # it was locked already: this was the draw
    return relay.closeBidding(tx_params, **extra)


def play_round(relay, script: RoundScript, closer, silent: bool = True, model=None) -> RoundResult:
    """Plays the current round to settlement; `closer` sends the closing calls.

    With `model` (a `derelayl.RelayProtocol`), every action is applied to the model
    too, so callers can compare the contract's state with the rules' state.
    """
    r = relay.currentRound()
    gas: dict[str, list[int]] = {}
    transactions: dict[str, list] = {}

    def send(name, *args, sender, mirror=None, label=None):
        tx = getattr(relay, name)(*args, {"from": sender}, silent=silent)
        gas.setdefault(label or name, []).append(tx.gas_used)
        transactions.setdefault(label or name, []).append(tx)
        if model is not None and mirror is not None:
            mirror()
        return tx

    for account in [*script.bids, *script.evaluators]:
        ensure_key(relay, account, model)
    for e in script.evaluators:
        send("stakeEvaluator", r, sender=e, mirror=lambda e=e: model.stake_evaluator(e.address, r))
    for mo, price in script.offers.items():
        send("offer", r, price, sender=mo, mirror=lambda mo=mo, price=price: model.offer(mo.address, r, price))
    for t, amount in script.bids.items():
        send("bid", r, amount, sender=t, mirror=lambda t=t, amount=amount: model.bid(t.address, r, amount))
    send("closeBidding", sender=closer, label="closeBidding (lock)")  # locks the round
    tx = send("closeBidding", sender=closer)  # draws, in the next block
    if model is not None:
        model.close_bidding(bytes(tx.events["BiddingClosed"]["seed"]))

    info = relay.roundInfo(r)
    slots = [relay.slotOf(r, i) for i in range(info["slotCount"])]
    owner_of = {i: relay.modelOf(slot["parentId"])["creator"] for i, slot in enumerate(slots)}
    for i in range(len(slots)):
        mo = _account(script, owner_of[i])
        holder = script.bundle_from
        if holder is not None:
            send("deliverBundle", r, i, ENVELOPE, sender=holder,
                 mirror=lambda i=i, h=holder: model.deliver_bundle(h.address, r, i, ENVELOPE))
        elif mo is not None and mo not in script.withhold_keys:
            send("deliverKey", r, i, ENVELOPE, sender=mo,
                 mirror=lambda i=i, mo=mo: model.deliver_key(mo.address, r, i, ENVELOPE))
    evaluator_count = len(relay.evaluatorsOf(r))
    for i, slot in enumerate(slots):
        trainer = _account(script, slot["trainer"])
        keyless = script.bundle_from is None and (hasattr(relay, "deliverBundle") or mo_withheld(script, owner_of[i]))
        if trainer is None or trainer in script.skip_submit or keyless:
            continue
        weights_hash = keccak(text=f"weights:{r}:{i}:{trainer.address}")
        cid = "Qm" + keccak(text=f"cid:{r}:{i}").hex()[:44]
        envelopes = [ENVELOPE] * evaluator_count
        send("submit", r, i, weights_hash, cid, envelopes, sender=trainer,
             mirror=lambda i=i, t=trainer, h=weights_hash, c=cid: model.submit(t.address, r, i, h, c, envelopes))
    if relay.roundInfo(r)["phase"] == 1:
        send("closeTraining", sender=closer, mirror=lambda: model.close_training())

    salts = {}
    scores = {}
    if relay.roundInfo(r)["phase"] == 2:
        for e in script.evaluators:
            if e in script.skip_commit:
                continue
            scores[e] = [script.score(e, i, s["trainer"]) for i, s in enumerate(slots)]
            # Deterministic (these are scripted participants, not the SDK's): the same
            # calldata every run, so the gas snapshot check sees the same gas.
            salts[e] = keccak(text=f"salt:{r}:{e.address}")
            commitment = relay.commitmentFor(r, e, scores[e], salts[e])
            send("commit", r, commitment, sender=e,
                 mirror=lambda e=e, c=commitment: model.commit(e.address, r, bytes(c)))
        if relay.roundInfo(r)["phase"] == 2:
            send("closeCommit", sender=closer, mirror=lambda: model.close_commit())
    for e in scores:
        if e not in script.skip_reveal:
            send("reveal", r, scores[e], salts[e], sender=e,
                 mirror=lambda e=e: model.reveal(e.address, r, scores[e], salts[e]))
    settle_tx = send("settle", sender=closer, mirror=lambda: model.settle())

    events = settle_tx.events
    outcomes = {e["slot"]: OUTCOMES[e["outcome"]] for e in events["SlotSettled"]} if "SlotSettled" in events else {}
    accepted = [
        (e["modelId"], e["parentId"], e["creator"], e["score"]) for e in events["ModelAccepted"]
    ] if "ModelAccepted" in events else []
    return RoundResult(r, slots, accepted, outcomes, gas, transactions, settle_tx)


def mo_withheld(script: RoundScript, owner: str) -> bool:
    """True when the slot's MO withholds its key (the trainer cannot train)."""
    return any(a.address == owner for a in script.withhold_keys)


def _account(script: RoundScript, address: str):
    for account in [*script.offers, *script.bids, *script.evaluators]:
        if account.address == address:
            return account
    return None
