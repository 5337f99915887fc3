"""The `derelayl` command line."""

from __future__ import annotations

import dataclasses
import json
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


if __name__ == "__main__":
    main()
