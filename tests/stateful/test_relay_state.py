"""Random walks through the protocol, checked step by step against `RelayProtocol`.

Every step sends one call to the contract and applies the same action to the model:
both must succeed, or both must refuse with the same custom error. After every step:
- conservation: the contract's token balance equals locked deposits and stakes plus
  credited-but-unwithdrawn balances (on chain and in the model);
- every account's credit and wallet balance equal the model's;
- every model's claimable lineage reward plus what it already claimed equals a
  brute-force count of its accepted descendants;
- no account holds (credit + wallet) more than it was allocated plus what it earned
  (rewards, and the MO deposits paid to it when an MO never delivered);
- every account's books balance: credit + wallet + its locked deposits = allocation +
  rewards + remedies received - deposits burned - remedies paid; after a settlement
  nothing is locked but the stakes of stakers the draw left out who have not yet
  reclaimed them, so this holds on the chain's own figures;
- no honest account (one that never cheated in the walk) ends with less than it put
  in minus what the rules forfeited, and none paid a remedy.

Attacks are steps too: a lazy trainer resubmitting its parent's weights, a copier
submitting another slot's hash and CID, an evaluator copying another's commitment
or reveal, a model owner withholding keys or not offering (a key holder may then
courier the key or offer the model; it may also courier a key the trainer asks for,
the owner's having failed),
zero-bid Sybils, evaluators that commit and never reveal. Whoever carries out an attack that the contract accepts is no
longer counted as honest. Up to 10 participants stake for 3 evaluator seats, so
bidding often closes with a draw; the drawn evaluators must match the model's, in
order, and the undrawn reclaim their stakes, in the round or rounds later (their books
must balance meanwhile).

Each walk is a fixed number of weighted random steps from a seed that hypothesis
draws: brownie 1.22.2's `state_machine` helper is compiled with mypyc and cannot be
subclassed, and the hypothesis it pins (6.27.3) ends RuleBasedStateMachine runs after
a few steps and draws mostly zeros, which never gets a round past bidding.
"""

from __future__ import annotations

import copy
from collections import Counter
import os
import random

from brownie import accounts, chain
from brownie.exceptions import VirtualMachineError
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Views, read_views, report
from derelayl import TEST_PARAMS, TOKEN, Phase, ProtocolRevert, RelayProtocol
from scripts.deploy import GENESIS_CID, GENESIS_HASH, deploy

PARAMS = TEST_PARAMS.replace(  # durations 0: the walks close phases without waiting
    k=2, max_trainers=4, max_evaluators=3, quorum=1, evaluator_stake=TOKEN, evaluator_reward=TOKEN // 100,
    score_floor=100_000, floor_margin=300_000,  # an acceptance floor: low scores are rejected
    fallback_rounds=2,  # and a fallback after 2 stalled rounds
)
ENVELOPE = b"\x5e" * 80
N = 10  # participants: the genesis owner and nine others
ALLOCATION = 20 * TOKEN

# The choices each step argument is drawn from.
WHO = list(range(N))
AMOUNT = [0, 0, 1, TOKEN // 10, TOKEN // 2, TOKEN, 3 * TOKEN, 19 * TOKEN, 25 * TOKEN]
SLOT = [0, 0, 1, 1, 2, 3, 4, 7]
SCORE = [0, 350_000, 500_000, 700_000, 700_000, 1_000_000, 1_050_000]
FLAG = [True, False]
MOSTLY = [True, True, True, False]  # honest most of the time
LAYERS = [0, 1, 2, 3, 100]
FRACTION = [1, 2, 3, 4]  # of the credit, in thirds: 4 asks for too much


def error_name(exc: VirtualMachineError) -> str:
    return str(exc.revert_msg).split(":")[0]


def step(weight: int = 1, **choices):
    """Marks a method as a step of the walk, with the choices of its arguments;
    `weight` makes the steps that move a round forward more frequent."""

    def mark(fn):
        fn.choices = choices
        fn.weight = weight
        return fn

    return mark


class RelayWalk:
    """The contract and the model side by side, moved by the same steps."""

    coverage: Counter = Counter()  # calls per function (and error), over all walks
    deepest = {"round": 0, "models": 0}
    merge_horizon = 0  # the plain relay (test_merge_relay_state.py walks the merge relay)

    def __init__(self, relay, token, participants):
        self.relay, self.token, self.participants = relay, token, participants
        # The checks after every step read in one JSON-RPC batch (conftest.Views): through
        # brownie they were 26 calls of about 6 ms each, three quarters of a walk's time.
        self.views = Views(relay), Views(token)
        self.model = RelayProtocol(
            PARAMS, participants[0].address, GENESIS_HASH, GENESIS_CID,
            {a.address: ALLOCATION for a in participants},
            chain_id=chain.id, contract=relay.address, merge_horizon=self.merge_horizon,
        )
        self.fell_back: list[tuple[int, int]] = []  # (frontier, fallback layer) of every RelayFellBack
        for a in participants[:-1]:
            self.model.register_key(a.address, keccak(text=f"key:{a.address}"))
        self.commits: dict[tuple[int, str], tuple[list[int], bytes]] = {}
        self.trail: list = []  # the steps taken, printed when a check fails
        self.cheaters: set[str] = set()  # accounts that carried out an attack the contract accepted

    # -------------------------------------------------------------- helpers

    def both(self, sender, name, args, apply):
        """Sends relay.<name>(*args) and applies `apply(tx)` to the model; both must
        agree on success or on the error's name."""
        saved = copy.deepcopy(self.model)
        tx, chain_error = None, None
        try:
            tx = getattr(self.relay, name)(*args, {"from": sender})
        except VirtualMachineError as exc:
            chain_error = error_name(exc)
        model_error = None
        try:
            apply(tx)
        except ProtocolRevert as exc:
            model_error = exc.name
            self.model = saved
        assert chain_error == model_error, (
            f"{name}{args}: chain {chain_error}, model {model_error}; steps: {self.trail}"
        )
        key = name if chain_error is None else f"{name}:{chain_error}"
        self.coverage[key] += 1
        return tx

    def who(self, i):
        return self.participants[i]

    def by_address(self, address):
        return next(a for a in self.participants if a.address == address)

    def slot_actor(self, slot, role):
        """The slot's trainer or MO in the current round (someone else if no such slot)."""
        rs = self.model.rounds[self.model.round]
        if slot < len(rs.slots):
            s = rs.slots[slot]
            address = s.trainer if role == "trainer" else self.model.models[s.parent_id].creator
            return next(a for a in self.participants if a.address == address)
        return self.participants[slot % N]

    # ---------------------------------------------------------------- steps

    @step(who=WHO)
    def register_key(self, who):
        a = self.who(who)
        key = keccak(text=f"key:{a.address}") if who % 3 else b"\x00" * 32
        self.both(a, "registerKey", (key,), lambda tx: self.model.register_key(a.address, key))

    @step(weight=4, who=WHO, amount=AMOUNT)
    def bid(self, who, amount):
        a, r = self.who(who), self.model.round
        self.both(a, "bid", (r, amount), lambda tx: self.model.bid(a.address, r, amount))

    @step(weight=3, who=WHO, amount=AMOUNT, honest=MOSTLY)
    def offer(self, who, amount, honest):
        a, r = self.who(who), self.model.round
        owners = sorted(self.model.owner_models.get(self.model.model_layer(self.model.rounds[r].parent_layer), {}))
        if honest and owners:
            a = self.by_address(owners[who % len(owners)])
        price = amount // 4
        self.both(a, "offer", (r, price), lambda tx: self.model.offer(a.address, r, price))

    @step(weight=2, who=WHO, honest=MOSTLY)
    def stake(self, who, honest):
        """Mostly someone free to evaluate stakes (so that pools outgrow the seats and
        get drawn); else anyone, who may be refused."""
        r = self.model.round
        rs = self.model.rounds[r]
        owners = self.model.owner_models.get(self.model.model_layer(rs.parent_layer), {})
        free = [a for a in self.participants
                if a.address not in rs.bid_index and a.address not in owners and a.address not in rs.records]
        a = free[who % len(free)] if honest and free else self.who(who)
        self.both(a, "stakeEvaluator", (r,), lambda tx: self.model.stake_evaluator(a.address, r))

    @step(who=WHO, honest=MOSTLY)
    def courier_offer(self, who, honest):
        """An evaluator of the round that accepted a model of the parent layer offers it
        in place of its owner (honest), or someone holding no key tries."""
        m, r = self.model, self.model.round
        rs = m.rounds[r]
        models = [i for i in m.layer_of(rs.parent_layer) if i not in rs.offered and self.model.key_holders_of(i)] if honest else []
        models = models or m.layer_of(rs.parent_layer)
        model_id = models[who % len(models)]
        holders = self.model.key_holders_of(model_id)
        a = self.by_address(holders[who % len(holders)]) if honest and holders else self.who(who)
        self.both(a, "courierOffer", (r, model_id), lambda tx: m.courier_offer(a.address, r, model_id))

    @step(who=WHO, previous=FLAG, honest=MOSTLY)
    def reclaim_stake(self, who, previous, honest):
        """A staker the draw of this round (or of an earlier one) left out takes its
        stake back (honest); or someone else tries: drawn, never staked, or too early."""
        m = self.model
        waiting = [(r, e) for r in range(m.round + 1) for e in sorted(m.rounds[r].undrawn)
                   if previous or r == m.round]
        r, address = waiting[who % len(waiting)] if honest and waiting else (m.round, self.who(who).address)
        a = self.by_address(address)
        self.both(a, "reclaimStake", (r,), lambda tx: m.reclaim_stake(a.address, r))

    @step(weight=2, who=WHO)
    def close_bidding(self, who):
        """closeBidding: its first call locks the round, the next (a later block) draws."""
        def apply(tx):
            rs = self.model.rounds[self.model.round]
            if not (rs.phase == Phase.BIDDING and rs.seed_block):
                self.model.lock_bidding()  # raises what the chain did, if it refused
                return
            seed = bytes(tx.events["BiddingClosed"]["seed"]) if tx else b"\x00" * 32
            pool = len(rs.evaluators)
            self.model.close_bidding(seed)
            if tx:  # the same evaluators drawn by lot, in the same (envelope) order
                assert list(self.relay.evaluatorsOf(rs.number)) == rs.evaluators, self.trail[-20:]
                if pool > len(rs.evaluators):
                    self.coverage["evaluators drawn by lot"] += 1

        self.both(self.who(who), "closeBidding", (), apply)

    def pending_slot(self, slot, wanted):
        """A slot of the current round in the state `wanted` (if any), else `slot`."""
        slots = self.model.rounds[self.model.round].slots
        open_ = [i for i, s in enumerate(slots) if wanted(s)]
        return open_[slot % len(open_)] if open_ else slot

    def withheld(self):
        """In every third round, the MO of slot 1 withholds its key (`note_withholders`
        then stops counting it as honest)."""
        slots = self.model.rounds[self.model.round].slots
        return slots[1] if len(slots) > 1 and self.model.round % 3 == 2 else None

    @step(weight=4, slot=SLOT, honest=MOSTLY)
    def deliver(self, slot, honest):
        if honest:
            slot = self.pending_slot(slot, lambda s: not s.delivered and s is not self.withheld())
        a = self.slot_actor(slot, "owner") if honest else self.who(slot % N)
        r = self.model.round
        self.both(a, "deliverKey", (r, slot, ENVELOPE), lambda tx: self.model.deliver_key(a.address, r, slot, ENVELOPE))

    @step(weight=2, slot=SLOT, who=WHO, honest=MOSTLY)
    def courier(self, slot, who, honest):
        """An evaluator of the round that accepted a slot's parent delivers its key in
        place of the MO, or after the MO's key failed and the trainer asked (honest), or
        someone who holds no such key tries."""
        m, r = self.model, self.model.round
        slot = self.pending_slot(slot, lambda s: not s.submitted and self.model.key_holders_of(s.parent_id))
        slots = m.rounds[r].slots
        holders = self.model.key_holders_of(slots[slot].parent_id) if slot < len(slots) else []
        if honest and holders and slots[slot].delivered:  # the trainer asks: the owner's key does not open it
            trainer = self.by_address(slots[slot].trainer)
            self.both(trainer, "requestKey", (r, slot), lambda tx: m.request_key(trainer.address, r, slot))
        a = self.by_address(holders[who % len(holders)]) if honest and holders else self.who(who)
        self.both(a, "courierKey", (r, slot, ENVELOPE), lambda tx: m.courier_key(a.address, r, slot, ENVELOPE))

    @step(weight=4, slot=SLOT, honest=MOSTLY)
    def submit(self, slot, honest):
        if honest:
            slot = self.pending_slot(slot, lambda s: (s.delivered or s.couriered) and not s.submitted)
        a = self.slot_actor(slot, "trainer") if honest else self.who(slot % N)
        r = self.model.round
        envelopes = [ENVELOPE] * len(self.model.rounds[r].evaluators)
        h = keccak(text=f"w:{r}:{slot}")
        cid = f"Qm{r}x{slot}"
        self.both(a, "submit", (r, slot, h, cid, envelopes),
                  lambda tx: self.model.submit(a.address, r, slot, h, cid, envelopes))

    @step(slot=SLOT)
    def lazy_submit(self, slot):
        """A trainer resubmits its parent's weights unchanged: always refused."""
        slot = self.pending_slot(slot, lambda s: s.delivered and not s.submitted)
        a, r = self.slot_actor(slot, "trainer"), self.model.round
        slots = self.model.rounds[r].slots
        h = self.model.models[slots[slot].parent_id].weights_hash if slot < len(slots) else GENESIS_HASH
        envelopes = [ENVELOPE] * len(self.model.rounds[r].evaluators)
        tx = self.both(a, "submit", (r, slot, h, "QmLazy", envelopes),
                       lambda tx: self.model.submit(a.address, r, slot, h, "QmLazy", envelopes))
        assert tx is None, "a resubmitted parent was accepted"

    @step(slot=SLOT, source=SLOT)
    def copy_submission(self, slot, source):
        """A trainer submits another slot's weights hash and CID (public in its event)."""
        r = self.model.round
        slots = self.model.rounds[r].slots
        slot = self.pending_slot(slot, lambda s: s.delivered and not s.submitted)
        done = [s for s in slots if s.submitted]
        original = done[source % len(done)] if done else None
        h, cid = (original.weights_hash, original.cid) if original else (keccak(text="copy"), "QmCopy")
        a = self.slot_actor(slot, "trainer")
        envelopes = [ENVELOPE] * len(self.model.rounds[r].evaluators)
        if self.both(a, "submit", (r, slot, h, cid, envelopes),
                     lambda tx: self.model.submit(a.address, r, slot, h, cid, envelopes)):
            self.cheaters.add(a.address)

    @step(who=WHO, source=WHO)
    def copy_commit(self, who, source):
        """An evaluator commits another evaluator's commitment: accepted, but it can
        never reveal it (the commitment binds the sender)."""
        r = self.model.round
        rs = self.model.rounds[r]
        others = [e for e in rs.evaluators if rs.records[e].committed]
        pending = [e for e in rs.evaluators if not rs.records[e].committed]
        if not others or not pending:
            return self.commit(who, SCORE[0], False)
        a = self.by_address(pending[who % len(pending)])
        commitment = rs.records[others[source % len(others)]].commitment
        if self.both(a, "commit", (r, commitment), lambda tx: self.model.commit(a.address, r, commitment)):
            self.cheaters.add(a.address)

    @step(who=WHO, source=WHO)
    def copy_reveal(self, who, source):
        """An evaluator reveals another evaluator's scores and salt: always refused."""
        r = self.model.round
        rs = self.model.rounds[r]
        opened = [key for key in self.commits if key[0] == r]
        a = self.who(who)
        if opened:
            _, owner = opened[source % len(opened)]
            scores, salt = self.commits[(r, owner)]
            # Another evaluator that committed, else anyone but the scores' own evaluator
            # (whose reveal of its own scores is no copy).
            committed = [e for e in rs.evaluators if rs.records[e].committed and e != owner]
            others = committed or [p.address for p in self.participants if p.address != owner]
            a = self.by_address(others[who % len(others)])
        else:
            scores, salt = [0] * len(rs.slots), b"\x02" * 32
        tx = self.both(a, "reveal", (r, scores, salt), lambda tx: self.model.reveal(a.address, r, scores, salt))
        assert tx is None, "a copied reveal was accepted"

    @step(who=WHO)
    def close_training(self, who):
        self.both(self.who(who), "closeTraining", (), lambda tx: self.model.close_training())

    @step(slot=SLOT, previous=FLAG)
    def reclaim(self, slot, previous):
        r = max(self.model.round - (1 if previous else 0), 0)
        rs = self.model.rounds[r]
        if not previous:
            slot = self.pending_slot(slot, lambda s: not s.delivered and not s.reclaimed)
        trainer = rs.slots[slot].trainer if slot < len(rs.slots) else None
        a = next((p for p in self.participants if p.address == trainer), self.who(slot % N))
        self.both(a, "reclaimUndelivered", (r, slot), lambda tx: self.model.reclaim_undelivered(a.address, r, slot))

    @step(weight=3, who=WHO, score=SCORE, honest=MOSTLY)
    def commit(self, who, score, honest):
        a, r = self.who(who), self.model.round
        rs = self.model.rounds[r]
        evaluators = [e for e in rs.evaluators if not rs.records[e].committed] or rs.evaluators
        if honest and evaluators:
            a = self.by_address(evaluators[who % len(evaluators)])
        scores = [(score + 37_000 * i) % 1_050_000 for i in range(len(self.model.rounds[r].slots))]
        salt = os.urandom(32)
        commitment = self.model.commitment_for(r, a.address, scores, salt) if honest else os.urandom(32)
        if honest:
            self.commits[(r, a.address)] = (scores, salt)
        self.both(a, "commit", (r, commitment), lambda tx: self.model.commit(a.address, r, commitment))

    @step(who=WHO)
    def close_commit(self, who):
        self.both(self.who(who), "closeCommit", (), lambda tx: self.model.close_commit())

    @step(weight=3, who=WHO, honest=MOSTLY)
    def reveal(self, who, honest):
        a, r = self.who(who), self.model.round
        rs = self.model.rounds[r]
        committed = [e for e in rs.evaluators if rs.records[e].committed and not rs.records[e].revealed]
        if honest and committed:
            a = self.by_address(committed[who % len(committed)])
        scores, salt = self.commits.get((r, a.address), ([0] * len(self.model.rounds[r].slots), b"\x01" * 32))
        if not honest:
            salt = os.urandom(32)  # or a copy of another evaluator's reveal: both must fail
        self.both(a, "reveal", (r, scores, salt), lambda tx: self.model.reveal(a.address, r, scores, salt))

    @step(weight=2, who=WHO)
    def settle(self, who):
        if tx := self.both(self.who(who), "settle", (), lambda tx: self.model.settle()):
            if "RelayFellBack" in tx.events:
                self.fell_back.append((tx.events["RelayFellBack"]["frontier"], tx.events["RelayFellBack"]["layer"]))
            # Nothing stays locked after a settlement but stakes the draws left out, so
            # every account's books balance on the chain's own figures.
            waiting = Counter(e for rs in self.model.rounds.values() for e in rs.undrawn)
            assert self.relay.totalLocked() == PARAMS.evaluator_stake * waiting.total()
            for a in self.participants:
                held = self.relay.creditOf(a) + self.token.balanceOf(a) + PARAMS.evaluator_stake * waiting[a.address]
                assert held == self.books(a.address), a

    @step(weight=2, who=WHO, layers=LAYERS, honest=MOSTLY)
    def claim(self, who, layers, honest):
        model_id = who % (len(self.model.models) + 1)  # sometimes one past the end
        owed = [m.model_id for m in self.model.models if self.model.claimable(m.model_id, 1000)[0] > 0]
        if honest and owed:
            model_id = owed[who % len(owed)]
        self.both(self.who(who), "claim", (model_id, layers), lambda tx: self.model.claim(model_id, layers))

    @step(who=WHO, fraction=FRACTION)
    def withdraw(self, who, fraction):
        a = self.who(who)
        amount = self.model.credit.get(a.address, 0) * fraction // 3
        self.both(a, "withdraw", (amount,), lambda tx: self.model.withdraw(a.address, amount))

    # ------------------------------------------------------------ invariant

    def check_invariants(self):
        model = self.model
        relay, token = self.views
        requests = [token.request("balanceOf", self.relay.address), relay.request("totalLocked"),
                    relay.request("totalCredited"), relay.request("modelCount")]
        for a in self.participants:
            requests += [relay.request("creditOf", a.address), token.request("balanceOf", a.address)]
        requests += [relay.request("claimable", m.model_id, 1000) for m in model.models]
        figures = iter(read_views(requests))  # every figure of the checks, one request
        balance, locked, credited, model_count = (next(figures) for _ in range(4))
        # conservation: every token the contract holds is locked or credited
        assert balance == locked + credited
        assert locked == model.locked and credited == sum(model.credit.values())
        self.note_withholders()
        for a in self.participants:
            credit, wallet = next(figures), next(figures)
            assert credit == model.credit.get(a.address, 0), a
            assert wallet == model.wallet.get(a.address, 0), a
            # Wallets start empty and participants never pay each other here.
            assert credit + wallet <= model.earned.get(a.address, 0), a
            held = credit + wallet + model.deposited.get(a.address, 0)
            assert held == self.books(a.address), a
            if a.address not in self.cheaters:
                assert model.remedies_paid.get(a.address, 0) == 0, a
                assert held + model.lineage_owed(a.address) >= ALLOCATION - model.forfeited.get(a.address, 0), a
        assert model_count == len(model.models)
        for m in model.models:
            units, _ = next(figures)
            assert units + m.claimed_units == self.lineage_units(m), m.model_id

    def lineage_units(self, m) -> int:
        """What model `m` has earned in all, by brute force: its accepted descendants."""
        return self.model.descendants(m.model_id)

    def note_withholders(self) -> None:
        """An MO that let Training end without delivering a slot's key withheld it (on
        purpose in `withheld()` rounds, or because the walk never got to it): it pays
        the remedy, and it is not counted as honest."""
        for r in (self.model.round - 1, self.model.round):
            rs = self.model.rounds.get(r)
            if rs is not None and rs.phase not in (Phase.BIDDING, Phase.TRAINING):
                self.cheaters.update(self.model.models[s.parent_id].creator for s in rs.slots if not s.delivered)

    def books(self, address) -> int:
        """What an account must hold, by the rules: allocation and rewards and remedies
        received, less deposits burned and remedies paid."""
        m = self.model
        return m.earned.get(address, 0) - m.forfeited.get(address, 0) - m.remedies_paid.get(address, 0)

    def finish(self):
        self.deepest["round"] = max(self.deepest["round"], self.model.round)
        self.deepest["models"] = max(self.deepest["models"], len(self.model.models))


STEPS = {name: fn for name, fn in vars(RelayWalk).items() if hasattr(fn, "choices")}
WEIGHTED_STEPS = sorted(name for name, fn in STEPS.items() for _ in range(fn.weight))
# Steps that belong to each phase (weighted), so that rounds get somewhere; one step
# in twenty is drawn from all steps, to exercise calls in the wrong phase.
PHASE_STEPS = {
    Phase.BIDDING: ["bid"] * 8 + ["offer"] * 5 + ["stake"] * 4 + ["claim"] * 2
    + ["register_key", "withdraw", "courier_offer", "reclaim_stake", "close_bidding"],
    Phase.TRAINING: ["deliver"] * 8 + ["courier"] * 2 + ["submit"] * 8 + ["lazy_submit"] * 3 + ["copy_submission"] * 2
    + ["reclaim_stake", "close_training"],
    Phase.COMMITTING: ["commit"] * 6 + ["copy_commit", "reclaim", "close_commit"],
    Phase.REVEALING: ["reveal"] * 6 + ["copy_reveal"] * 2 + ["reclaim", "claim", "settle"],
}


def choose_step(rng: random.Random, machine: RelayWalk) -> str:
    if rng.random() < 0.05:
        return rng.choice(WEIGHTED_STEPS)
    rs = machine.model.rounds[machine.model.round]
    if rs.phase == Phase.BIDDING and rs.seed_block and rng.random() < 0.5:
        return "close_bidding"  # locked: bids, offers and stakes are refused now
    return rng.choice(PHASE_STEPS[rs.phase])


def play_walks(walk_class, state_machine_settings) -> int:
    """Deploys (a merge relay if `walk_class.merge_horizon`), then plays the walks of
    `state_machine_settings` from hypothesis' seeds, each from the fresh deployment,
    checking the invariants after every step; returns the steps per walk."""
    deployer = accounts[0]
    participants = list(accounts[1 : 1 + N])
    token, relay = deploy(deployer, PARAMS, participants[0], {a: ALLOCATION for a in participants},
                          merge_horizon=walk_class.merge_horizon)
    for a in participants[:-1]:  # the last one registers a key only if a step does
        relay.registerKey(keccak(text=f"key:{a.address}"), {"from": a})
    for a in participants:
        token.approve(relay, 2**256 - 1, {"from": a})
    chain.snapshot()
    steps = state_machine_settings["stateful_step_count"]

    @settings(
        max_examples=state_machine_settings["max_examples"],
        deadline=None,
        database=None,
        phases=state_machine_settings.get("phases"),
        derandomize=state_machine_settings.get("derandomize", False),
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.integers(0, 2**64 - 1))
    def walk(seed):
        rng = random.Random(seed)
        chain.revert()  # every walk starts from the deployment
        machine = walk_class(relay, token, participants)
        machine.check_invariants()
        for _ in range(steps):
            name = choose_step(rng, machine)
            kwargs = {arg: rng.choice(options) for arg, options in STEPS[name].choices.items()}
            machine.trail.append((name, kwargs))
            getattr(machine, name)(**kwargs)
            machine.check_invariants()
        machine.finish()

    walk()
    return steps


def test_random_walks_match_the_protocol_model(state_machine_settings):
    steps = play_walks(RelayWalk, state_machine_settings)
    report(f"stateful coverage: {dict(sorted(RelayWalk.coverage.items()))} {RelayWalk.deepest}")
    # The walks must reach the interesting states, or they prove little.
    # (reclaimUndelivered is rare in these walks; the unit and scenario tests cover it.)
    for name in ["bid", "offer", "closeBidding", "deliverKey", "submit", "commit", "reveal", "settle",
                 "claim", "withdraw", "reclaimStake"]:
        assert RelayWalk.coverage.get(name, 0) > 0, f"no successful {name} in the random walks"
    assert RelayWalk.deepest["models"] >= 2, "no walk accepted a model: lineage went untested"
    attacks = ["reveal:RelayRevealMismatch", "evaluators drawn by lot"]
    if steps * state_machine_settings["max_examples"] >= 2000:  # `make fuzz`; the short walks rarely get there
        # (a courier offer needs a round nobody offered in: about 1 in 5,000 steps, too
        # rare to assert; the differential test asserts it, about 10 per 100 scenarios.
        # A lazy submission needs a delivered key: the short walks reach a few, so
        # whether one of them is lazy depends on the seeds; the differential test
        # asserts it in `make test`.)
        attacks += ["courierKey", "requestKey", "submit:RelayUnchangedWeights"]
    for attack in attacks:
        assert RelayWalk.coverage.get(attack, 0) > 0, f"the walks never tried {attack}"
