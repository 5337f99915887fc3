"""A participant that plays trainer (and model owner once accepted) or evaluator,
round after round.

`Participant` is the loop and its plumbing: it joins a deployment (checking its own
task code and data against the task spec on chain), follows the chain block by block,
hands each phase to its role (`derelayl.roles.trainer.TrainerRole` or
`derelayl.roles.evaluator.EvaluatorRole`), and closes phases whose deadline passed.
Its work is bounded per block, not per poll (issue 18): a new block costs one
`eth_getLogs` of the relay's events; only an event that concerns it, a time it waits
for, or a periodic refresh makes it look at the round (one snapshot of the block, its
usual views in one JSON-RPC batch); closers take turns instead of racing; its
transactions carry known gas limits; it counts its calls (state_dir/rpc.json).
The chain is the record of what was done (a bid placed, a model submitted, scores
committed), so a restarted participant never acts twice; its state folder keeps what
the chain must not see (its X25519 key, model keys, salts, scores and trained
weights), each written *before* the transaction that needs it, so a crash or a failed
transaction never loses a trained model or a commitment.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_utils import function_abi_to_4byte_selector
from web3 import HTTPProvider, Web3

from derelayl import crypto
from derelayl.client import RelayClient
from derelayl.deployment import Deployment
from derelayl.errors import ConfigurationError, ContractRevert, DeRelayLError
from derelayl.merge import MERGES
from derelayl.params import SAFE_QUORUM, SMALL_QUORUM_RISK
from derelayl.policies import PolicyView, default_bid, default_price
from derelayl.storage import ModelStore
from derelayl.task import Dataset, Task, check_data, check_task, load_task, parse_spec
from derelayl.transactions import connect
from derelayl.types import Phase, RoundView

#: The roles a participant can play.
ROLES = ("trainer", "evaluator")


@dataclass
class ParticipantConfig:
    """How one participant plays.

    `task` is the participant's own copy of the task code; None loads the entry point
    the deployment's task spec names (a built-in, or a module on this machine).
    Either way it is checked against the spec before the participant acts.
    """

    role: str  # "trainer" (also plays model owner once accepted) or "evaluator"
    state_dir: Path
    task: Task | None = None
    seed: int = 0
    poll_interval: float = 1.0  # seconds between looks at the chain's head (one eth_blockNumber)
    close_jitter: float = 3.0  # seconds; see Participant.try_close (a step outside the per-block loop)
    close_spacing: float = 4.0  # seconds between closers' turns in the per-block loop; see close_delay
    refresh_blocks: int = 30  # a full look at the round at least every this many blocks, events or not
    progress: bool = False  # a tqdm bar while training
    empty_round_grace: float = 30.0  # extra seconds before closing a bidding phase that would rank nothing
    bid_policy: Callable[[PolicyView], int] = default_bid
    price_policy: Callable[[PolicyView], int] = default_price
    # In a merge relay: how a trainer merges the parent layer's models before training
    # (a name of `derelayl.merge.MERGES`). Clipping bounds each model's pull, so one bad
    # accepted model cannot poison the start (docs/merge.md); evaluators do not check it.
    merge: str = "clipped"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigurationError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.merge not in MERGES:
            raise ConfigurationError(f"merge must be one of {', '.join(MERGES)}, not {self.merge!r}")


class StateFile:
    """A JSON document written atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not valid JSON ({exc}); a participant's state file is "
                                     f"written by the participant only") from exc

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)


class CountingProvider(HTTPProvider):
    """An HTTP JSON-RPC provider that counts what it sends: JSON-RPC calls by method
    (each element of a batch is one call) and HTTP requests (a batch is one). The
    chain id never changes: it is asked once, then answered from memory (web3 asks it
    before every `eth_call` and every transaction: half of all calls before)."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout})
        self.calls: dict[str, int] = {}
        self.http_requests = 0
        self.views: dict[str, int] = {}  # eth_call by the function called (names from `name_selectors`)
        self._selectors: dict[str, str] = {}
        self._chain_id: Any = None

    def name_selectors(self, abi: list[dict[str, Any]]) -> None:
        """Counts each `eth_call` to a function of `abi` under the function's name too."""
        for item in abi:
            if item.get("type") == "function":
                self._selectors[function_abi_to_4byte_selector(item).hex()] = item["name"]

    def _count_view(self, method, params) -> None:
        if method == "eth_call" and params and isinstance(params[0], dict):
            data = str(params[0].get("data") or params[0].get("input") or "")
            name = self._selectors.get(data[2:10].lower(), "other")
            self.views[name] = self.views.get(name, 0) + 1

    def make_request(self, method, params):
        if method == "eth_chainId" and self._chain_id is not None:
            return {"jsonrpc": "2.0", "id": 0, "result": self._chain_id}
        self.calls[method] = self.calls.get(method, 0) + 1
        self.http_requests += 1
        self._count_view(method, params)
        response = super().make_request(method, params)
        if method == "eth_chainId" and "result" in response:
            self._chain_id = response["result"]
        return response

    def make_batch_request(self, batch_requests):
        for method, params in batch_requests:
            self.calls[method] = self.calls.get(method, 0) + 1
            self._count_view(method, params)
        self.http_requests += 1
        return super().make_batch_request(batch_requests)

    def total(self) -> int:
        return sum(self.calls.values())


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def close_time(info: RoundView, quorum: int, empty_round_grace: float, merge_relay: bool = False,
               started: float = 0.0) -> float:
    """When a participant closes the phase `info` describes: at its deadline. A Bidding
    phase that could lead to no ranking (no bid, no offer, or fewer evaluator stakers
    than the quorum: every slot would end `NoQuorum`) gets `empty_round_grace` seconds
    more, for a slow trainer, model owner or evaluator (say, one still starting up: the
    first round's deadline runs from the deployment) to join. A merge relay has no
    offers (every slot starts from the whole layer): only its bids and stakers count.
    A participant `started` after the deadline counts the grace from its own start:
    those started alongside it need as long to join."""
    no_offer = info.offer_count == 0 and not merge_relay
    if info.phase == Phase.BIDDING and (info.bid_count == 0 or no_offer or info.evaluator_count < quorum):
        return max(info.deadline, started) + empty_round_grace
    return info.deadline


#: Events that make every participant look at the round again: the round moved on (or
#: could be settled: everyone revealed). Any other event only wakes the participants it
#: names (a bid, a slot matched, a key delivered to it, ...), and `KeyRequested` the
#: evaluators (couriers answer requests).
ROUND_EVENTS = frozenset({"PhaseStarted", "BiddingLocked", "BiddingClosed", "RoundSettled", "RelayFellBack",
                          "ScoresRevealed"})


#: Events that can end the wait of a Bidding phase that could rank nothing (close_time's
#: grace): a bid, an offer or an evaluator's stake, the participant's own included (the
#: step that sent it judged the round from the view before it). Only a participant in
#: that wait looks again for them.
JOIN_EVENTS = frozenset({"BidPlaced", "OfferMade", "OfferCouriered", "EvaluatorStaked"})


#: The views whose first argument is a round number (a look learned in one round reads
#: them for the next round).
ROUND_VIEWS = frozenset({"roundInfo", "bidsOf", "offersOf", "evaluatorsOf", "slotOf", "trainerSlot",
                         "evaluatorState", "revealedScores"})


def _hashable(view: tuple) -> bool:
    try:
        hash(view)
        return True
    except TypeError:
        return False


def closer_rank(relay: str, r: int, phase: Phase, account: str, accounts) -> int:
    """The place of `account` in the order in which the registered `accounts` take turns
    to close `phase` of round `r`: accounts sorted by keccak(relay, round, phase,
    account), a fresh order for every phase, that every participant computes alike from
    the chain's `KeyRegistered` events. The first closes at the deadline, the next
    `close_spacing` seconds later if the phase is still open, and so on: one closing
    transaction instead of one per participant, and still closed if some have gone."""
    def order(a: str) -> bytes:
        return Web3.keccak(text=f"{relay.lower()}:{r}:{int(phase)}:{a.lower()}")

    ranked = sorted({a.lower() for a in accounts} | {account.lower()}, key=lambda a: order(a))
    return ranked.index(account.lower())


def fetch_task_spec(client: RelayClient, store: ModelStore) -> dict[str, Any]:
    """The task spec the deployment records (fetched by CID, so its hash is checked)."""
    cid = client.task_spec_cid()
    if not cid:
        raise ConfigurationError(f"the deployment {client.deployment.relay} records no task spec: a relay "
                                 f"needs one (`derelayl deploy --task ...` or `derelayl.deploy_task`)")
    return parse_spec(store.get(cid), cid)


class Participant:
    """One account playing the relay through `deployment` on its own `data` (a
    `Dataset`, or a file the task's `load_data` reads), storing weights in `store`."""

    def __init__(self, config: ParticipantConfig, deployment: Deployment, account, store: ModelStore,
                 data: Dataset | Path, rpc_url: str | None = None, log: Callable[[str], None] = print) -> None:
        from derelayl.roles.evaluator import EvaluatorRole
        from derelayl.roles.trainer import TrainerRole

        self.config = config
        self.account = account
        self.store = store
        self.log = log
        self.w3: Web3 = connect(rpc_url or deployment.rpc_url)  # checks the endpoint answers
        self.rpc = CountingProvider(rpc_url or deployment.rpc_url)
        self.w3.provider = self.rpc  # every call from here on is counted (rpc.json in the state folder)
        self.client = RelayClient(self.w3, deployment, account)
        self.rpc.name_selectors(self.client.relay.abi)
        self.deployment = deployment
        spec = fetch_task_spec(self.client, store)
        self.task = check_task(config.task or load_task(spec["entry_point"]), spec)
        source = str(data) if isinstance(data, Path) else f"the {config.role}'s data"
        data = self.task.load_data(data) if isinstance(data, Path) else data
        check_data(self.task, data, source)
        self.data = data
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "weights").mkdir(exist_ok=True)
        self.state = StateFile(config.state_dir / "state.json")
        if "x25519" not in self.state.data:
            self.state.data.update({"x25519": crypto.KeyPair.generate().private.hex(), "model_keys": {},
                                    "rounds": {}, "own_version": -1})
            self.state.save()
        self.keypair = crypto.KeyPair.from_private(bytes.fromhex(self.state.data["x25519"]))
        params = self.client.params()
        self.params = params
        self.k, self.quorum = params.k, params.quorum
        if params.quorum < SAFE_QUORUM:
            self.log(f"warning: this task ranks a model on as few as {params.quorum} evaluator score(s); "
                     f"{SMALL_QUORUM_RISK}")
        if self.deployment.genesis_key and "0" not in self.state.data["model_keys"] \
                and self.client.model(0).creator == self.address:
            self.state.data["model_keys"]["0"] = self.deployment.genesis_key  # the genesis owner delivers it
            self.state.save()
        self._started = self.now()  # wall-clock; see close_time
        self._idle: tuple[int, int] | None = None  # (round, phase) with nothing left to do
        self._round: int | None = None  # the round of the last step
        self._phase: Phase | None = None  # its phase
        self._reads: dict[Phase, tuple[list[tuple], int]] = {}  # phase -> views its last look read, and round
        self._everyone_revealed: dict[int, float] = {}  # round -> when it was first seen fully revealed
        self._looping = False  # in `run`'s per-block loop
        self._registered: set[str] = set()  # accounts with a KeyRegistered event (the closers' turns)
        self._wake_at = 0.0  # when the loop looks at the round again without an event
        self._awaiting_joiners = False  # in a Bidding phase that could rank nothing yet (see JOIN_EVENTS)
        self._rpc_at_loop: dict[str, int] | None = None
        self._rpc_loop_block: int | None = None
        self._rpc_last_block: int | None = None
        self._rpc_loop_time: float | None = None
        self.role = TrainerRole(self) if config.role == "trainer" else EvaluatorRole(self)

    # ------------------------------------------------------------ plumbing

    @property
    def address(self) -> str:
        return self.account.address

    def round_state(self, r: int) -> dict[str, Any]:
        """What this participant keeps about round `r` (saved with `self.state.save()`)."""
        return self.state.data["rounds"].setdefault(str(r), {})

    def my_slot(self, r: int) -> int | None:
        """This participant's slot in round `r`, if it was matched as a trainer."""
        return self.client.trainer_slot(r, self.address)

    def now(self) -> float:
        """Wall-clock time: a dev chain mines no block while nobody sends, so its
        latest block time can lag; the contract checks the deadline again anyway."""
        return time.time()

    def key_window_closed(self, deadline: int) -> bool:
        """Whether a Training key window (`RoundView.key_deadline` or
        `courier_deadline`; 0: no window) has closed."""
        return deadline != 0 and self.now() >= deadline

    def past_half_time(self, info: RoundView) -> bool:
        """Whether the round's current phase is half over: until then a courier leaves
        the owner its turn."""
        return self.now() >= (info.phase_start + info.deadline) / 2

    def open_model(self, model_id: int, key: bytes) -> bytes:
        """The plain weights of model `model_id`, fetched and decrypted with `key`;
        DecryptionError unless they match the model's on-chain sha256."""
        cid = self.client.cid_of(model_id)
        plain = crypto.decrypt(self.store.get(cid), key)
        if crypto.weights_hash(plain) != self.client.model(model_id).weights_hash:
            raise crypto.DecryptionError(f"model {model_id} ({cid}) does not match its on-chain sha256")
        return plain

    def event_arg(self, event: str, arg: str, **filters):
        """Argument `arg` of the latest `event` matching `filters`."""
        logs = self.client.events(event, **filters)
        if not logs:
            raise LookupError(f"no {event} event for {filters}")
        return logs[-1][arg]

    def try_close(self, r: int, phase: Phase) -> None:
        """Closes `phase` of round `r`. Every participant may do it, so they race: each
        waits a random moment and looks again first, so that (usually) one sends the
        transaction instead of all of them. Ganache runs a gas estimate of every sent
        settle, and ten at once cost seconds. Losing the race is fine. In the per-block
        loop (`run`) participants take turns instead (`close_delay`), without the wait."""
        if not self._looping:
            time.sleep(random.uniform(0, self.config.close_jitter))
        self.client.end_snapshot()  # look again at the latest block
        if self.client.current_round() != r or self.client.round_info(r).phase != phase:
            return
        close = {Phase.BIDDING: self.client.close_bidding, Phase.TRAINING: self.client.close_training,
                 Phase.COMMITTING: self.client.close_commit, Phase.REVEALING: self.client.settle}[phase]
        try:
            close()
            self.log(f"{close.__name__}()")
        except ContractRevert as exc:
            if exc.name not in ("RelayWrongPhase", "RelayPhaseNotOver", "RelaySeedNotReady"):
                raise

    # ---------------------------------------------------------------- loop

    def write_rpc_counts(self, block: int | None = None) -> None:
        """Writes state_dir/rpc.json: the JSON-RPC calls this participant made, by
        method, since it started and since its loop started (with the block then and
        the latest block it saw), for the benchmark to divide by blocks."""
        if block is not None:
            self._rpc_last_block = block
        at = self._rpc_at_loop or {}
        loop = {m: n - at.get(m, 0) for m, n in self.rpc.calls.items()} if self._rpc_at_loop is not None else {}
        views = {m: n - at.get("view:" + m, 0) for m, n in self.rpc.views.items()}
        record = {"calls": dict(sorted(self.rpc.calls.items())), "total": self.rpc.total(),
                  "http_requests": self.rpc.http_requests, "loop_calls": dict(sorted(loop.items())),
                  "loop_total": sum(loop.values()),
                  "loop_http_requests": self.rpc.http_requests - at.get("http", 0),
                  "loop_views": dict(sorted(views.items(), key=lambda kv: -kv[1])), "loop_first_block": self._rpc_loop_block,
                  "last_block": self._rpc_last_block, "loop_seconds": round(time.time() - self._rpc_loop_time, 1)
                  if self._rpc_loop_time else None}
        tmp = self.config.state_dir / "rpc.json.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.config.state_dir / "rpc.json")

    def run(self, rounds: int | None = None, stop: Callable[[], bool] = lambda: False) -> None:
        """Plays until round `rounds` has been settled (or `stop()` says so)."""
        if self.client.public_key_of(self.address) != self.keypair.public:
            self.client.register_key(self.keypair.public)
        self._rpc_at_loop = {**self.rpc.calls, "http": self.rpc.http_requests,
                             **{"view:" + m: n for m, n in self.rpc.views.items()}}
        self._rpc_loop_block = self.w3.eth.block_number
        self._rpc_loop_time = time.time()
        # A launcher stops participants with SIGTERM: let the counts be written first.
        previous = None
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self._run(rounds, stop)
        finally:
            try:
                self.write_rpc_counts(self.w3.eth.block_number)
            except (requests.ConnectionError, requests.Timeout):
                self.write_rpc_counts()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, rounds: int | None, stop: Callable[[], bool]) -> None:
        """The per-block loop. Every `poll_interval` it asks the chain's head (one
        `eth_blockNumber`); on a new block it reads the relay's events of the new
        blocks (one `eth_getLogs`), and only when one concerns it (`wants_step`), when a
        time it waits for has come (`wake_at`: a deadline, its turn to close, a
        half-time) or every `refresh_blocks` blocks does it look at the round: one
        snapshot of that block, its usual views read in one batch, then `step`. So the
        work per block is bounded, whatever the number of participants and however
        often it polls."""
        self._looping = True
        last_write, last_step_block, failed = 0.0, -1, True
        seen = self.client.indexed_through
        try:
            while not stop():
                try:
                    head = self.w3.eth.block_number
                    if head != seen or time.time() >= self._wake_at or failed:
                        events = self.client.index_events(head) if head != seen else []
                        seen = head
                        self._registered.update(e["account"] for e in events if e["event"] == "KeyRegistered")
                        if failed or time.time() >= self._wake_at or head - last_step_block >= \
                                self.config.refresh_blocks or any(self.wants_step(e) for e in events):
                            started = [e for e in events if e["event"] == "PhaseStarted"]
                            hint = (started[-1]["round"], Phase(started[-1]["phase"])) if started else None
                            failed = True  # until the step below went through
                            done = self.step_at(head, rounds, hint)
                            last_step_block, failed = head, False
                            if done:
                                return
                        if time.time() - last_write >= 5:
                            self.write_rpc_counts(head)
                            last_write = time.time()
                except ContractRevert as exc:
                    # Others act at the same time: a phase may close between our read and our
                    # transaction (the event that closed it wakes us), or a bid is too low to
                    # enter a full round. The chain is the record and the state folder holds
                    # the rest: look again on the next event that concerns us, or in 5 s.
                    self.log(f"round {self._round}: {exc} (resuming)")
                    failed, self._wake_at, last_step_block = False, time.time() + 5, seen
                except DeRelayLError as exc:
                    # E.g. IPFS briefly unreachable: try again at the next poll.
                    self.log(f"round {self._round}: {exc} (resuming)")
                except (requests.ConnectionError, requests.Timeout) as exc:
                    self.log(f"chain at {self.deployment.rpc_url} unreachable ({type(exc).__name__}); retrying")
                    time.sleep(5.0)
                finally:
                    self.client.end_snapshot()
                time.sleep(self.config.poll_interval)
        finally:
            self._looping = False

    def wants_step(self, event: dict[str, Any]) -> bool:
        """Whether `event` (from `RelayClient.index_events`) may give this participant
        something to do: a round event (`ROUND_EVENTS`), one that names it (as trainer,
        owner, evaluator, courier, creator, ...), a key request for an evaluator, or, while
        an empty Bidding phase waits for joiners, a bid, offer or stake (`JOIN_EVENTS`)."""
        if event["event"] in ROUND_EVENTS:
            return True
        if self._awaiting_joiners and event["event"] in JOIN_EVENTS:
            return True
        if event.get("own"):
            return False  # its own transaction: the step that sent it went on with what followed
        if event["event"] == "KeyRequested" and self.config.role == "evaluator":
            return True
        return any(v == self.address for v in event.values() if isinstance(v, str))

    def step_at(self, block: int, rounds: int | None = None, hint: tuple[int, Phase] | None = None) -> bool:
        """One look at the round at `block`: the views its last look in the same phase
        read (the phase `hint` names: the round and phase of the latest PhaseStarted
        event, if any came) in one batch, then `step` (unless round `rounds` is
        reached: then True, and nothing done)."""
        self.client.snapshot(block)
        guess, phase = hint if hint is not None else (self._round if self._round is not None else 0, self._phase)
        # What the last look in this phase read, for this round: the same views, in one
        # batch instead of one request each (the first look in a phase reads the round).
        learned, at = self._reads.get(phase, ([("currentRound",), ("roundInfo", guess)], guess))
        views = [(name, guess, *args[1:]) if args and args[0] == at and name in ROUND_VIEWS else (name, *args)
                 for name, *args in learned]
        self.client.prefetch(views)
        r = self.client.current_round()
        self._round = r
        if rounds is not None and r >= rounds:
            return True
        self.step(r)
        if self._phase is not None and self.client.used:
            self._reads[self._phase] = ([v for v in dict.fromkeys(self.client.used) if _hashable(v)], r)
        return False

    def close_delay(self, r: int, phase: Phase) -> float:
        """Seconds after a phase's closing time (`close_time`) at which this participant
        closes it, in the per-block loop: its turn (`closer_rank`) times
        `close_spacing`. Outside the loop: 0 (`try_close` waits a random moment)."""
        if not self._looping:
            return 0.0
        return closer_rank(self.deployment.relay, r, phase, self.address, self._registered) * \
            self.config.close_spacing

    def next_wake(self, info: RoundView, r: int, close_at: float) -> float:
        """The next moment (wall clock) at which the round `info` describes may ask
        something of this participant without an event: its turn to close the phase,
        half-time (couriers act then), the owners' and couriers' key windows."""
        now = self.now()
        times = [close_at, (info.phase_start + info.deadline) / 2, info.key_deadline, info.courier_deadline,
                 info.deadline]
        later = [t for t in times if t and t > now]
        # past its closing turn and still open: look again at the next turn (the one before may have failed)
        return min(later) if later else now + self.config.close_spacing

    def step(self, r: int) -> None:
        """Does whatever the current phase of round `r` asks of this participant's role,
        then closes the phase if its deadline passed (or, for settlement, everyone
        revealed)."""
        info = self.client.round_info(r)
        phase = info.phase
        self._phase = phase
        self.role.every_step(r, phase)
        if phase == Phase.SETTLED:
            return  # nothing left to do in a settled round
        if self._idle != (r, phase):
            handler = {Phase.BIDDING: self.role.bidding, Phase.TRAINING: self.role.training,
                       Phase.COMMITTING: self.role.committing, Phase.REVEALING: self.role.revealing}[phase]
            if handler(r):
                self._idle = (r, phase)  # only deadlines to watch until the phase changes
        close_at = close_time(info, self.quorum, self.config.empty_round_grace, bool(self.deployment.merge_horizon),
                              self._started)
        self._awaiting_joiners = phase == Phase.BIDDING and close_at > info.deadline
        if phase == Phase.REVEALING and info.revealed_count == info.committed_count:
            close_at = self._everyone_revealed.setdefault(r, self.now())  # settle at once, in turns
        close_at += self.close_delay(r, phase)
        self._wake_at = self.next_wake(info, r, close_at)
        if self.now() >= close_at:
            self.try_close(r, phase)
