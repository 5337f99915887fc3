"""The `derelayl` command line."""

from __future__ import annotations

import dataclasses
import json

import click

from derelayl import __version__
from derelayl.params import DEFAULT_PARAMS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derelayl")
def main() -> None:
    """DeRelayL: train one model together in a relay, recorded on an EVM chain."""


@main.command()
def params() -> None:
    """Print the default deployment parameters as JSON."""
    click.echo(json.dumps(dataclasses.asdict(DEFAULT_PARAMS), indent=2))


if __name__ == "__main__":
    main()
