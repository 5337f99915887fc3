"""The `derelayl` command line.

Start-up stays fast: this module imports only click and the SDK's light modules
(errors, params); each command imports what it needs (web3, torch) when it runs, so
`derelayl --help`, `status` and `lineage` never load torch.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from derelayl import __version__
from derelayl._files import write_text_whole
from derelayl.errors import ConfigurationError, DeRelayLError
from derelayl.params import (DEFAULT_PARAMS, MAX_AMOUNT, MERGE_SELECTION_PERMILLE, SAFE_DURATIONS, SAFE_QUORUM,
                             SCORE_SCALE, SMALL_QUORUM_RISK, TOKEN, ProtocolParams)

#: Dev accounts `derelayl node` prints (address and key), for `deploy --private-key`
#: and `--allocate`.
NODE_ACCOUNTS_SHOWN = 4


@contextmanager
def _serving():
    """Runs a serving command: Ctrl-C or SIGTERM (a background job may ignore SIGINT,
    and service managers send SIGTERM) stops it cleanly, leaving the `with` blocks
    inside so that their services stop; an SDK error becomes a clear CLI error."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        click.echo("stopped")
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


def _serve_forever() -> None:
    while True:
        time.sleep(3600)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derelayl")
def main() -> None:
    """DeRelayL: train one model together in a relay, recorded on an EVM chain."""


@main.command()
def params() -> None:
    """Print the default deployment parameters as JSON."""
    click.echo(json.dumps(dataclasses.asdict(DEFAULT_PARAMS), indent=2))


def _read_params(path: Path) -> ProtocolParams:
    """The deployment parameters in JSON file `path` (missing keys keep their defaults),
    validated as the contract would; BadParameter naming the file and the field."""
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: cannot read it ({exc})", param_hint="'--params'") from exc
    except ValueError as exc:
        raise click.BadParameter(f"{path}: not valid JSON ({exc})", param_hint="'--params'") from exc
    try:
        return ProtocolParams.from_mapping(values)
    except ConfigurationError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="'--params'") from exc


def _account_from_key(key: str):
    """The account of a hex private key; BadParameter (never the key itself) when malformed."""
    from eth_account import Account

    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", key.strip()):
        raise click.BadParameter("expected 64 hex digits (optionally with 0x)", param_hint="'--private-key'")
    try:
        return Account.from_key(key.strip())
    except ValueError as exc:
        raise click.BadParameter(f"not a valid private key ({exc})", param_hint="'--private-key'") from exc


def _parse_allocations(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    """`--allocate ADDR=AMOUNT` values as {checksum address: base units}."""
    allocations: dict[str, int] = {}
    for value in values:
        address, sep, amount = value.partition("=")
        address, amount = address.strip(), amount.strip()
        if not sep or not address or not amount:
            raise click.BadParameter(f"{value!r}: expected ADDR=AMOUNT, e.g. "
                                     "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4=100")
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
            raise click.BadParameter(f"{value!r}: {address!r} is not an address (0x and 40 hex digits)")
        from eth_utils import is_checksum_address, to_checksum_address

        if address != address.lower() and address[2:] != address[2:].upper() and not is_checksum_address(address):
            raise click.BadParameter(f"{value!r}: {address} has a wrong checksum (mixed case that does not match "
                                     "EIP-55): check it for a typo, or write it all in lower case")
        try:
            drl = Decimal(amount)
        except InvalidOperation:
            raise click.BadParameter(f"{value!r}: amount {amount!r} is not a number of DRL") from None
        units = drl * TOKEN
        if not drl.is_finite() or drl <= 0 or units != units.to_integral_value():
            raise click.BadParameter(f"{value!r}: amount must be a positive number of DRL with at most 18 "
                                     f"decimals, got {amount}")
        if units > MAX_AMOUNT:
            raise click.BadParameter(f"{value!r}: amount {amount} DRL is more than the contract's maximum")
        checksum = to_checksum_address(address)
        if checksum in allocations:
            raise click.BadParameter(f"{value!r}: {checksum} is allocated twice; give one amount per address")
        allocations[checksum] = int(units)
    return allocations


def _drl(units: int) -> str:
    """Base units as DRL, without trailing zeros."""
    text = f"{Decimal(units) / TOKEN:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@main.command()
@click.option("--rpc-url", default=None, help="JSON-RPC endpoint; default: start a local Ganache and keep it running.")
@click.option("--private-key", envvar="DERELAYL_PRIVATE_KEY", default=None,
              help="Deployer key (or $DERELAYL_PRIVATE_KEY); default with a local Ganache: its first dev account.")
@click.option("--params", "params_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON file of deployment parameters (see `derelayl params`); missing keys keep their defaults.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the deployment JSON (default build/derelayl/deployment-<chain id>.json).")
@click.option("--serve/--no-serve", default=True, help="With a local Ganache: keep it running until Ctrl-C.")
@click.option("--task", "task_name", default=None,
              help="The task: a built-in (digits-mlp, digits-cnn, wine, breast-cancer), module:attr or "
                   "file.py:attr. Its spec and genesis model are pinned at --ipfs-api, the spec's CID "
                   "recorded on chain. Without it, a placeholder genesis nobody can train on.")
@click.option("--seed", default=0, show_default=True, help="Seed of the task's genesis model.")
@click.option("--genesis", "genesis_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --task: start from these weights (safetensors, checked against the task's model) "
                   "instead of a fresh model. Encrypted and pinned; the key is published in the deployment file.")
@click.option("--ipfs-api", default=None,
              help="IPFS HTTP API that pins the task spec and genesis, e.g. /ip4/127.0.0.1/tcp/5001/http "
                   "(`derelayl node` prints one).")
@click.option("--allow-small-quorum", is_flag=True,
              help=f"Deploy with a quorum below {SAFE_QUORUM}, although one colluding evaluator can then lift "
                   "its favourite (docs/robustness.md).")
@click.option("--allow-short-durations", is_flag=True,
              help="Deploy with phases shorter than a public chain needs (`derelayl params` shows the safe "
                   "defaults): anyone may then close a phase before honest participants could act. For a dev "
                   "chain only.")
@click.option("--allocate", "allocations", multiple=True, metavar="ADDR=AMOUNT", callback=_parse_allocations,
              help="Credit AMOUNT DRL (decimals allowed) to address ADDR at deployment, so it can stake and bid; "
                   "repeatable. On a dev chain `derelayl node` prints addresses to use.")
@click.option("--merge-horizon", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Above 0: a merge relay (docs/merge.md). Every trainer starts from a merge of the whole parent "
                   "layer, and each accepted model pays a lineage reward to each of the H layers before it. "
                   f"Accepts every ranked model above the floor (selection_permille {MERGE_SELECTION_PERMILLE}) "
                   "unless --params sets another selection.")
def deploy(rpc_url: str | None, private_key: str | None, params_file: str | None, out: str | None,
           serve: bool, task_name: str | None, seed: int, genesis_file: str | None, ipfs_api: str | None,
           allow_small_quorum: bool, allow_short_durations: bool, allocations: dict[str, int],
           merge_horizon: int) -> None:
    """Deploy RelayToken and RelayLearning to a chain (a local Ganache by default).

    A model is ranked only on at least `quorum` revealed scores (default 5, SAFE_QUORUM);
    a smaller quorum is refused unless --allow-small-quorum says the risk is accepted.
    Phases shorter than the defaults are refused unless --allow-short-durations does.
    Evaluators need `evaluator_stake` DRL to stake: give them tokens with --allocate."""
    params = _read_params(Path(params_file)) if params_file else DEFAULT_PARAMS
    if merge_horizon and params.selection_permille == DEFAULT_PARAMS.selection_permille:
        params = params.replace(selection_permille=MERGE_SELECTION_PERMILLE)
    if rpc_url is not None and private_key is None:
        raise click.UsageError("--rpc-url needs --private-key (or $DERELAYL_PRIVATE_KEY)")
    if genesis_file is not None and task_name is None:
        raise click.UsageError("--genesis needs --task: the weights are checked against the task's model")
    if task_name is not None and ipfs_api is None:
        raise click.UsageError("--task needs --ipfs-api: the task spec and genesis are pinned there for "
                               "participants to fetch")
    task = _load_task_option(task_name) if task_name else None
    genesis_weights = _genesis_weights(Path(genesis_file), task) if genesis_file else None
    deployer = _account_from_key(private_key) if private_key else None
    if params.quorum < SAFE_QUORUM:
        risk = f"quorum = {params.quorum}: {SMALL_QUORUM_RISK}"
        if not allow_small_quorum:
            raise click.UsageError(f"{risk}. Set quorum (and max_evaluators) to at least {SAFE_QUORUM}, "
                                   "or pass --allow-small-quorum to accept the risk.")
        click.echo(f"warning: {risk}", err=True)
    short = params.short_durations()
    if short:
        risk = (f"{', '.join(f'{name} = {getattr(params, name)} s' for name in short)} below what a public chain "
                f"needs ({', '.join(f'{SAFE_DURATIONS[name]} s' for name in short)}): anyone may close such a "
                "phase before honest participants could act, and burn their deposits")
        if not allow_short_durations:
            raise click.UsageError(f"{risk}. Keep the default durations, or pass --allow-short-durations "
                                   "(a dev chain only).")
        click.echo(f"warning: {risk}", err=True)
    if task is not None and task.score_floor <= 0:
        click.echo(f"warning: task {task.name} sets no score_floor: the relay accepts any model above "
                   f"{params.score_floor / SCORE_SCALE:g}, so models no better than chance can be accepted "
                   "while their parent is the genesis (set the task's score_floor above chance; "
                   "docs/security.md, class 6)", err=True)
    from derelayl.deploying import deploy as deploy_contracts
    from derelayl.localchain import DEV_MNEMONIC, chain_at, dev_account

    with _serving(), chain_at(rpc_url) as (w3, local):
        deployer = deployer or dev_account(0)
        click.echo(f"deploying from {deployer.address} to {w3.provider.endpoint_uri} (chain id {w3.eth.chain_id})")
        if task is not None:
            from derelayl.launch import deploy_task
            from derelayl.storage import IpfsStore

            deployment = deploy_task(w3, deployer, task, IpfsStore(ipfs_api), entry_point=task_name, params=params,
                                     seed=seed, genesis_weights=genesis_weights, allocations=allocations,
                                     merge_horizon=merge_horizon)
        else:
            deployment = deploy_contracts(w3, deployer, params, allocations=allocations, merge_horizon=merge_horizon)
        path = deployment.save(Path(out or f"build/derelayl/deployment-{deployment.chain_id}.json"))
        click.echo(f"RelayToken    {deployment.token}")
        if merge_horizon:
            click.echo(f"MergeRelayLearning {deployment.relay} (lineage horizon {merge_horizon} layers, "
                       f"selection_permille {params.selection_permille})")
        else:
            click.echo(f"RelayLearning {deployment.relay}")
        for address, amount in allocations.items():
            click.echo(f"allocated     {address}  {_drl(amount)} DRL (credit: stake, bid or withdraw)")
        if task is not None:
            click.echo(f"task {task.name} ({task.metric}); its spec and genesis model are pinned, the genesis owned "
                       "by the deployer; the genesis key is in the deployment file")
        else:
            click.echo("no --task: the genesis is a placeholder that nobody can train on")
        click.echo(f"deployment written to {path}")
        if local is not None and serve:
            click.echo(f"local Ganache serving at {local.url} (dev mnemonic: {DEV_MNEMONIC!r}); "
                       "Ctrl-C stops it and its state is gone")
            _serve_forever()


def _load_task_option(name: str):
    """The task `--task` names, or a one-line error."""
    from derelayl.task import load_task

    try:
        return load_task(name)
    except DeRelayLError as exc:
        raise click.BadParameter(str(exc), param_hint="--task") from exc


def _genesis_weights(path: Path, task) -> bytes:
    """The safetensors bytes at `path`, refused unless they fit `task`'s model."""
    from derelayl.weights import load_weights

    plain = path.read_bytes()
    try:
        load_weights(task, plain)
    except DeRelayLError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--genesis") from exc
    return plain


chain_option = click.option(
    "--chain", type=click.Choice(["ganache", "anvil"]), default=None,
    help="The local chain to start (default $DERELAYL_CHAIN, else ganache).")


@main.command()
@chain_option
@click.option("--block-time", default=1.0, show_default=True,
              help="Seconds between blocks (0: mine only on transactions; deadlines then stall).")
@click.option("--accounts", default=20, show_default=True, help="Funded dev accounts.")
@click.option("--endpoints", type=click.Path(dir_okay=False), default=None,
              help="Also write the endpoints as JSON here (for scripts).")
@click.option("--port", default=8545, show_default=True, help="The chain's JSON-RPC port (0: a free one).")
@click.option("--ipfs-port", default=5001, show_default=True, help="The IPFS HTTP API's port (0: a free one).")
def node(chain: str | None, block_time: float, accounts: int, endpoints: str | None, port: int,
         ipfs_port: int) -> None:
    """Start a local chain (Ganache, or Anvil with --chain anvil) and an IPFS daemon,
    print their endpoints and the first dev accounts (address and private key, for
    `deploy --private-key` and `--allocate`), serve until Ctrl-C (or SIGTERM), then
    stop both."""
    from derelayl.ipfs_node import IpfsNode
    from derelayl.localchain import DEV_MNEMONIC, LocalChain, dev_account

    with _serving(), LocalChain(port=port or None, accounts=accounts, block_time=block_time,
                                chain=chain) as local, IpfsNode(api_port=ipfs_port or None) as ipfs:
        shown = [dev_account(i) for i in range(min(NODE_ACCOUNTS_SHOWN, accounts))]
        dev_accounts = [{"address": a.address, "private_key": "0x" + a.key.hex().removeprefix("0x")} for a in shown]
        info = {"chain": local.chain, "rpc_url": local.url, "chain_id": 1337, "ipfs_api": ipfs.api, "ipfs_api_url": ipfs.api_url,
                "dev_mnemonic": DEV_MNEMONIC, "pid": os.getpid()}
        for name, value in info.items():
            click.echo(f"{name:<13} {value}")
        click.echo(f"dev accounts (this dev chain only: the keys are public, never use them on a real network; "
                   f"{accounts} funded, from the dev mnemonic):")
        for i, a in enumerate(dev_accounts):
            click.echo(f"  {i}  {a['address']}  {a['private_key']}")
        info["dev_accounts"] = dev_accounts
        if endpoints:
            write_text_whole(Path(endpoints), json.dumps(info, indent=2) + "\n")  # scripts wait for it
        click.echo("serving; Ctrl-C stops both (their state is gone)")
        _serve_forever()


def _client(deployment_path: str, rpc_url: str | None):
    """A read-only RelayClient for the deployment file (its own RPC URL unless given).
    The file is validated first (ConfigurationError naming file and field), and a chain
    without the contract at the recorded address is named instead of failing later."""
    from derelayl.client import RelayClient
    from derelayl.deployment import Deployment
    from derelayl.transactions import connect

    deployment = Deployment.load(Path(deployment_path))
    url = rpc_url or deployment.rpc_url
    w3 = connect(url)
    if not w3.eth.get_code(deployment.relay):
        raise ConfigurationError(f"{deployment_path}: no contract at relay {deployment.relay} on {url} "
                                 f"(chain id {w3.eth.chain_id}): is this the chain it was deployed to?")
    return RelayClient(w3, deployment)


deployment_option = click.option(
    "--deployment", "deployment_path", required=True, type=click.Path(dir_okay=False),
    help="Deployment JSON written by `derelayl deploy` (or the demo's deployment.json).")
rpc_option = click.option("--rpc-url", default=None, help="JSON-RPC endpoint (default: the deployment's).")


@main.command()
@deployment_option
@rpc_option
def status(deployment_path: str, rpc_url: str | None) -> None:
    """Show the current round: phase, deadline, model owners, bids, slots, evaluators,
    the last settled round's scores, and every participant's tokens."""
    from derelayl.params import SCORE_SCALE, TOKEN
    from derelayl.types import Phase

    try:
        client = _client(deployment_path, rpc_url)
        r = client.current_round()
        info = client.round_info(r)
        head = client.w3.eth.get_block("latest")
        left = info.deadline - head["timestamp"]
        merge = client.deployment.merge_horizon
        contract = f"MergeRelayLearning (lineage horizon {merge} layers)" if merge else "RelayLearning"
        click.echo(f"{contract} {client.deployment.relay} on chain {client.deployment.chain_id} "
                   f"(block {head['number']})")
        if info.phase == Phase.BIDDING:  # stakers so far; the seats are drawn from them at the close
            evaluators = f"{info.evaluator_count} evaluator stakers for {client.params().max_evaluators} seats"
        else:
            evaluators = (f"{info.evaluator_count} evaluators ({info.committed_count} committed, "
                          f"{info.revealed_count} revealed)")
        starts = (f"from all {len(client.layer(info.parent_layer))} model(s) of layer {info.parent_layer}" if merge
                  else f"{info.offer_count} offers")
        click.echo(f"round {r}: {info.phase.name.lower()}, deadline in {max(left, 0)} s; {info.bid_count} bids, "
                   f"{starts}, {info.slot_count} slots ({info.submitted_count} submitted), {evaluators}")
        owners = {e["modelId"]: e["owner"] for e in client.events("OfferMade", round=r)}
        owners.update({e["modelId"]: f"{e['courier']} (courier: its owner did not offer)"
                       for e in client.events("OfferCouriered", round=r)})
        for o in client.offers(r):
            click.echo(f"  MO    {owners.get(o.model_id, '?')}  model {o.model_id}  price {o.price / TOKEN:.4f}")
        for b in client.bids(r):
            click.echo(f"  bid   {b.trainer}  {b.amount / TOKEN:.4f}")
        for i, s in enumerate(client.slots(r)):
            state = ("submitted" if s.submitted
                     else "keys bundled" if s.delivered and merge
                     else "key delivered (also couriered)" if s.delivered and s.couriered
                     else "key delivered" if s.delivered
                     else "key couriered (owner withheld)" if s.couriered else "waiting for key")
            start = f"layer {info.parent_layer}" if merge else f"parent {s.parent_id}"
            click.echo(f"  slot {i:<2} {s.trainer}  {start}  {state}")
        if r > 0:
            accepted = [e for e in client.events("ModelAccepted", round=r - 1) if e["modelId"] != 0]
            click.echo(f"round {r - 1} accepted {len(accepted)} model(s):")
            for e in accepted:
                click.echo(f"  model {e['modelId']:<4} parent {e['parentId']:<4} {e['creator']}  "
                           f"score {e['score'] / SCORE_SCALE:.3f}")
        people = sorted({e["trainer"] for e in client.events("BidPlaced")}
                        | {e["owner"] for e in client.events("OfferMade")}
                        | {e["evaluator"] for e in client.events("EvaluatorStaked")})
        if people:
            click.echo("tokens (credit / wallet):")
            for a in people:
                click.echo(f"  {a}  {client.credit_of(a) / TOKEN:10.4f} / {client.wallet_of(a) / TOKEN:10.4f}")
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@deployment_option
@rpc_option
def lineage(deployment_path: str, rpc_url: str | None) -> None:
    """Print the model tree: every accepted model under its parent, with its round,
    creator, score and lineage reward claimed / still claimable."""
    from derelayl.params import SCORE_SCALE

    try:
        client = _client(deployment_path, rpc_url)
        models = {m: client.model(m) for m in range(client.model_count())}
        children: dict[int, list[int]] = {}
        for m, view in models.items():
            if m:
                children.setdefault(view.parent_id, []).append(m)
        click.echo(f"{len(models)} models in {client.layer_count()} layers")

        stack = [(0, 0)]  # depth-first, without recursion: a lineage can be thousands deep
        while stack:
            m, depth = stack.pop()
            v = models[m]
            claimable, _ = client.claimable(m)
            what = "genesis" if m == 0 else f"round {v.round}, score {v.score / SCORE_SCALE:.3f}"
            click.echo(f"{'  ' * depth}model {m} ({what}) by {v.creator}; lineage units claimed "
                       f"{v.claimed_units}, claimable {claimable}")
            stack.extend((child, depth + 1) for child in reversed(children.get(m, [])))
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--state-dir", required=True, type=click.Path(file_okay=False),
              help="Folder with participant.json and the participant's data; its state is kept here.")
def participant(state_dir: str) -> None:
    """Play the relay as one participant (trainer/model owner or evaluator) until the
    configured number of rounds is settled. Safe to kill and restart.

    \b
    STATE_DIR/participant.json (relative paths are relative to STATE_DIR):
      role                 "trainer" or "evaluator"                     (required)
      deployment           path of the file `derelayl deploy` wrote      (required)
      ipfs_api             IPFS HTTP API, e.g. /ip4/127.0.0.1/tcp/5001/http  (required)
      data                 data file, default data.npz: arrays `features`
                           (float, (n, *input_shape)) and `labels` (int)
      task                 entry point of your copy of the task code
                           (default: the one the task spec names)
      account_index        int: a dev-chain account (or set $DERELAYL_PRIVATE_KEY)
      rounds               int: stop once this many rounds are settled
      seed, threads        int: training seed; torch threads
      rpc_url              JSON-RPC endpoint instead of the deployment's
      wait_for_deployment  seconds to wait for the deployment file (default 0)
    """
    from derelayl.participant_settings import ParticipantSettings

    folder = Path(state_dir)
    try:
        settings = ParticipantSettings.load(folder)
        agent = _participant_agent(settings)
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc
    # This process lives for the relay: what is alive now (torch, web3, the task, the
    # data) stays alive, so the garbage collector need not walk it again on each of its
    # full collections (gc.freeze). A participant of the demo's wine relay used 12% less CPU.
    gc.collect()
    gc.freeze()
    try:
        agent.run(rounds=settings.rounds)
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


def _participant_agent(settings):
    """The Participant that `settings` describe, its task and data checked against
    the deployment's task spec (one-line errors for everything a user can get wrong)."""
    from eth_account import Account

    from derelayl.deployment import Deployment
    from derelayl.localchain import dev_account
    from derelayl.participant import Participant, ParticipantConfig
    from derelayl.storage import IpfsStore
    from derelayl.task import load_task

    key = os.environ.get("DERELAYL_PRIVATE_KEY")
    if not key and settings.account_index is None:
        raise ConfigurationError(f"{settings.folder / 'participant.json'}: set 'account_index' (a dev-chain "
                                 "account) or $DERELAYL_PRIVATE_KEY")
    try:
        account = Account.from_key(key) if key else dev_account(settings.account_index)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"$DERELAYL_PRIVATE_KEY is not a private key: {exc}") from exc
    task = load_task(_relative_entry_point(settings.task, settings.folder)) if settings.task else None
    if not settings.data.is_file():
        raise ConfigurationError(f"{settings.folder / 'participant.json'}: field 'data': no file {settings.data}")
    (settings.folder / "ready").write_text(str(os.getpid()))  # checks done: a launcher may deploy now
    deadline = time.time() + settings.wait_for_deployment
    while not settings.deployment.exists() and time.time() < deadline:
        time.sleep(0.5)  # a launcher may deploy after its participants are up
    deployment = Deployment.load(settings.deployment)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)  # many participants on one machine
    config = ParticipantConfig(role=settings.role, state_dir=settings.folder, task=task, seed=settings.seed,
                               progress=sys.stderr.isatty(), merge=settings.merge)
    return Participant(config, deployment, account, IpfsStore(settings.ipfs_api), settings.data,
                       rpc_url=settings.rpc_url,
                       log=lambda m: click.echo(f"{time.strftime('%H:%M:%S')} {m}", err=False))


def _relative_entry_point(entry_point: str, folder: Path) -> str:
    """A ``file.py:attr`` entry point with its file made relative to `folder`."""
    where, sep, attr = entry_point.rpartition(":")
    if sep and where.endswith(".py") and not Path(where).is_absolute():
        return f"{folder / where}:{attr}"
    return entry_point


def _demo_default(name: str):
    """Demo flags default to DemoConfig's fields: one place for the defaults (a light
    module: building the CLI does not import the demo, nor torch)."""
    from derelayl.demo_config import DemoConfig

    return getattr(DemoConfig, name)


@main.command()
@click.option("--trainers", default=_demo_default("trainers"), show_default=True,
              help="Trainers (and model owners), one process each.")
@click.option("--evaluators", default=_demo_default("evaluators"), show_default=True,
              help="Evaluators, one process each.")
@click.option("--quorum", default=_demo_default("quorum"), show_default=True,
              help="Fewest revealed scores a model is ranked on (a public relay: 5, with at least 5 evaluators).")
@click.option("--rounds", default=_demo_default("rounds"), show_default=True)
@click.option("--alpha", default=_demo_default("alpha"), show_default=True,
              help="Dirichlet label skew (small: non-IID).")
@click.option("--task", "task_name", type=click.Choice(["digits-mlp", "digits-cnn", "wine", "breast-cancer"]),
              default=_demo_default("task"), show_default=True, help="The built-in task to relay.")
@click.option("--epochs", default=_demo_default("epochs"), show_default=True, help="Local epochs per relay turn.")
@click.option("--seed", default=_demo_default("seed"), show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write a machine-readable record of the run here.")
@click.option("--merge-horizon", default=_demo_default("merge_horizon"), show_default=True,
              type=click.IntRange(0, 2**32 - 1),
              help="Above 0: a merge relay (docs/merge.md; 10 is the measured horizon): every trainer starts "
                   "from a merge of the whole parent layer.")
@chain_option
def demo(trainers, evaluators, quorum, rounds, alpha, task_name, epochs, seed, out, json_path, merge_horizon,
         chain) -> None:
    """Run a whole relay of a built-in task: a local chain (Ganache, or Anvil), IPFS, and
    every participant its own process. Ends with whether every round ranked and nobody
    missed a phase, and the JSON-RPC calls per participant per block."""
    from derelayl.demo_config import DemoConfig

    try:
        config = DemoConfig(trainers, evaluators, rounds, alpha, seed, task_name, epochs, Path(out),
                            Path(json_path) if json_path else None, chain=chain, quorum=quorum,
                            merge_horizon=merge_horizon).validate()
        from derelayl.demo import run_demo

        run_demo(config, echo=click.echo)
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--participants", default=256, show_default=True)
@click.option("--rounds", default=5000, show_default=True)
@click.option("--active", default=128, show_default=True, help="Model owners + trainers per round.")
@click.option("--k", default=4, show_default=True, help="Trainers per model owner.")
@click.option("--finish-probability", default=0.9, show_default=True, help="Chance a matched trainer submits.")
@click.option("--step-mean", default=1.0, show_default=True, help="Mean logit step of one turn of training.")
@click.option("--step-std", default=1.0, show_default=True, help="Spread of the logit step.")
@click.option("--selection", default=0.5, show_default=True, help="Share of scored models accepted (s).")
@click.option("--evaluator-fee", default=0.001, show_default=True, help="Tokens per model and per test case.")
@click.option("--test-cases", default=100, show_default=True)
@click.option("--lineage-reward", default=1.0, show_default=True, help="Tokens per accepted descendant.")
@click.option("--claim-every", default=10, show_default=True, help="Rounds between lineage claims.")
@click.option("--seed", default=0, show_default=True)
@click.option("--version-rounds", default=100, show_default=True, help="Rounds shown in the version figure.")
@click.option("--out", type=click.Path(file_okay=False), default="simulation-output", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write every round's tokens and versions per participant here.")
def simulate(participants, rounds, active, k, finish_probability, step_mean, step_std, selection, evaluator_fee,
             test_cases, lineage_reward, claim_every, seed, version_rounds, out, json_path) -> None:
    """The paper's numerical study on the protocol's own rules (performance drawn at
    random instead of trained); writes the tokens and version figures."""
    from tqdm import tqdm

    from derelayl.simulate import SimulationConfig, plot, run_simulation

    config = SimulationConfig(participants=participants, rounds=rounds, active=active, k=k,
                              finish_probability=finish_probability, step_mean=step_mean, step_std=step_std,
                              selection=selection, evaluator_fee=evaluator_fee, test_cases=test_cases,
                              lineage_reward=lineage_reward, claim_every=claim_every, seed=seed)
    try:
        with tqdm(total=rounds, unit="round", desc="simulating", disable=not sys.stderr.isatty()) as bar:
            result = run_simulation(config, progress=lambda r: bar.update(1))
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc
    paths = plot(result, Path(out), version_rounds)
    last = result.tokens[-1]
    click.echo(f"{rounds} rounds, {participants} participants in {result.seconds:.1f} s "
               f"(peak memory {result.peak_rss_mb:.0f} MB); newest version {result.latest[-1]}; "
               f"{sum(result.accepted) / len(result.accepted):.1f} models accepted per round")
    click.echo(f"tokens after the last round: total {sum(last):,.1f}, max {max(last):,.1f}, "
               f"median {sorted(last)[len(last) // 2]:,.1f}, holders {sum(t > 0 for t in last)}/{participants}")
    click.echo("figures: " + ", ".join(str(p) for p in paths))
    if json_path:
        Path(json_path).write_text(json.dumps(result.to_json()) + "\n")
        click.echo(f"record written to {json_path}")


if __name__ == "__main__":
    main()
