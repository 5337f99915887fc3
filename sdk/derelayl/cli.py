"""The `derelayl` command line."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import click
from eth_account import Account

from derelayl import __version__
from derelayl.errors import DeRelayLError
from derelayl.params import DEFAULT_PARAMS, ProtocolParams


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derelayl")
def main() -> None:
    """DeRelayL: train one model together in a relay, recorded on an EVM chain."""


@main.command()
def params() -> None:
    """Print the default deployment parameters as JSON."""
    click.echo(json.dumps(dataclasses.asdict(DEFAULT_PARAMS), indent=2))


@main.command()
@click.option("--rpc-url", default=None, help="JSON-RPC endpoint; default: start a local Ganache and keep it running.")
@click.option("--private-key", envvar="DERELAYL_PRIVATE_KEY", default=None,
              help="Deployer key (or $DERELAYL_PRIVATE_KEY); default with a local Ganache: its first dev account.")
@click.option("--params", "params_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON file of deployment parameters (see `derelayl params`); missing keys keep their defaults.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the deployment JSON (default build/derelayl/deployment-<chain id>.json).")
@click.option("--serve/--no-serve", default=True, help="With a local Ganache: keep it running until Ctrl-C.")
def deploy(rpc_url: str | None, private_key: str | None, params_file: str | None, out: str | None,
           serve: bool) -> None:
    """Deploy RelayToken and RelayLearning to a chain (a local Ganache by default)."""
    from derelayl import chain

    params = DEFAULT_PARAMS
    if params_file:
        try:
            params = ProtocolParams(**{**dataclasses.asdict(DEFAULT_PARAMS), **json.loads(Path(params_file).read_text())})
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(f"{params_file}: {exc} (expected keys: {', '.join(dataclasses.asdict(DEFAULT_PARAMS))})")
    if rpc_url is not None and private_key is None:
        raise click.UsageError("--rpc-url needs --private-key (or $DERELAYL_PRIVATE_KEY)")
    try:
        with chain.chain_at(rpc_url) as (w3, local):
            deployer = Account.from_key(private_key) if private_key else chain.dev_account(0)
            click.echo(f"deploying from {deployer.address} to {w3.provider.endpoint_uri} (chain id {w3.eth.chain_id})")
            deployment = chain.deploy(w3, deployer, params)
            path = deployment.save(Path(out or f"build/derelayl/deployment-{deployment.chain_id}.json"))
            click.echo(f"RelayToken    {deployment.token}")
            click.echo(f"RelayLearning {deployment.relay}")
            click.echo(f"deployment written to {path}")
            if local is not None and serve:
                click.echo(f"local Ganache serving at {local.url} (dev mnemonic: {chain.DEV_MNEMONIC!r}); "
                           "Ctrl-C stops it and its state is gone")
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopped")
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--state-dir", required=True, type=click.Path(file_okay=False),
              help="Folder with participant.json (role, account_index or $DERELAYL_PRIVATE_KEY, deployment, "
                   "ipfs_api, model, epochs, seed, rounds) and data.npz (features, labels); state is kept here.")
def participant(state_dir: str) -> None:
    """Play the relay as one participant (trainer/model owner or evaluator) until the
    configured number of rounds is settled. Safe to kill and restart."""
    import numpy as np

    from derelayl import chain
    from derelayl.participant import Participant, ParticipantConfig
    from derelayl.storage import IpfsStore
    from derelayl.training import ModelSpec

    folder = Path(state_dir)
    try:
        settings = json.loads((folder / "participant.json").read_text())
        data = np.load(folder / "data.npz")
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc.filename} is missing: see `derelayl participant --help`")
    (folder / "ready").write_text(str(os.getpid()))  # imports done: a launcher may deploy now
    deployment_path = Path(settings["deployment"])
    for _ in range(1200):  # a launcher may deploy after its participants are up
        if deployment_path.exists():
            break
        time.sleep(0.5)
    key = os.environ.get("DERELAYL_PRIVATE_KEY")
    account = Account.from_key(key) if key else chain.dev_account(int(settings["account_index"]))
    config = ParticipantConfig(role=settings["role"], state_dir=folder, spec=ModelSpec(kind=settings["model"]),
                               epochs=int(settings.get("epochs", 5)), seed=int(settings.get("seed", 0)))
    try:
        agent = Participant(config, chain.Deployment.load(deployment_path), account,
                            IpfsStore(settings["ipfs_api"]), data["features"], data["labels"],
                            log=lambda m: click.echo(f"{time.strftime('%H:%M:%S')} {m}", err=False))
        genesis_key = folder / "genesis_key"
        if genesis_key.exists():
            agent.state.data["model_keys"]["0"] = genesis_key.read_text().strip()
            agent.state.save()
        agent.run(rounds=int(settings["rounds"]))
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--trainers", default=8, show_default=True, help="Trainers (and model owners), one process each.")
@click.option("--evaluators", default=2, show_default=True, help="Evaluators, one process each.")
@click.option("--rounds", default=5, show_default=True)
@click.option("--alpha", default=1.0, show_default=True, help="Dirichlet label skew (small: non-IID).")
@click.option("--model", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True)
@click.option("--epochs", default=5, show_default=True, help="Local epochs per relay turn.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write a machine-readable record of the run here.")
def demo(trainers, evaluators, rounds, alpha, model, epochs, seed, out, json_path) -> None:
    """Run a whole relay on digits: Ganache, IPFS, and every participant its own process."""
    from derelayl.demo import DemoConfig, run_demo

    try:
        run_demo(DemoConfig(trainers, evaluators, rounds, alpha, seed, model, epochs, Path(out),
                            Path(json_path) if json_path else None), echo=click.echo)
    except DeRelayLError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
