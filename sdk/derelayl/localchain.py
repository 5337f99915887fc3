"""A local development chain: Ganache (the default) or Anvil started on a free port with
the well-known dev mnemonic, chain id 1337, the Shanghai hardfork and a 30M block gas
limit, stopped by `stop()` or on leaving `with`, and the dev accounts' keys.

The chain is `chain=` if given, else $DERELAYL_CHAIN, else "ganache". Ganache is found
in $DERELAYL_GANACHE, Anvil in $DERELAYL_ANVIL, else as `ganache` / `anvil` on PATH,
else in the node_modules/.bin of the DeRelayL checkout the working directory lies in.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from eth_account import Account
from web3 import HTTPProvider, Web3

from derelayl import _executables, _service
from derelayl.errors import ConfigurationError
from derelayl.transactions import connect

#: The embedded Ganache's accounts come from this well-known development mnemonic, so
#: tests and demos can derive their keys. Never use it on a real network.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 40
#: Where a user gets Ganache (the version this project is tested with).
GANACHE_INSTALL = "npm install -g ganache@7.9.2"
#: Where a user gets Anvil (Foundry's node; the npm package ships the binary).
ANVIL_INSTALL = "npm install -g @foundry-rs/anvil@1.7.1"
#: The local chains LocalChain can start; the first is the default.
CHAINS = ("ganache", "anvil")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ganache_executable() -> str:
    """The Ganache to start; ConfigurationError with the install command if none is found."""
    return _executables.find("ganache", "DERELAYL_GANACHE", "Ganache", GANACHE_INSTALL)


def anvil_executable() -> str:
    """The Anvil to start; ConfigurationError with the install command if none is found."""
    return _executables.find("anvil", "DERELAYL_ANVIL", "Anvil", ANVIL_INSTALL)


def default_chain() -> str:
    """$DERELAYL_CHAIN if set (checked), else "ganache"."""
    chain = os.environ.get("DERELAYL_CHAIN") or CHAINS[0]
    if chain not in CHAINS:
        raise ConfigurationError(f"$DERELAYL_CHAIN = {chain!r}: use one of {', '.join(CHAINS)}")
    return chain


class LocalChain:
    """A Ganache or an Anvil (`chain`, default $DERELAYL_CHAIN or "ganache") on a free
    port, stopped by `stop()` or on leaving the `with` block. Accounts come from the dev
    mnemonic; `block_time` seconds between blocks (0: a block per transaction)."""

    def __init__(self, port: int | None = None, accounts: int = DEV_ACCOUNTS, block_time: float = 0,
                 chain: str | None = None) -> None:
        self.chain = chain or default_chain()
        if self.chain not in CHAINS:
            raise ConfigurationError(f"unknown chain {self.chain!r}: use one of {', '.join(CHAINS)}")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if self.chain == "anvil":
            command = [
                anvil_executable(), "--port", str(self.port), "--host", "127.0.0.1",
                "--mnemonic", DEV_MNEMONIC, "--accounts", str(accounts),
                "--hardfork", "shanghai", "--gas-limit", "30000000", "--chain-id", "1337", "--quiet",
            ]
            if block_time:
                command += ["--block-time", str(block_time)]
        else:
            command = [
                ganache_executable(), "--server.port", str(self.port), "--server.host", "127.0.0.1",
                "--wallet.mnemonic", DEV_MNEMONIC, "--wallet.totalAccounts", str(accounts),
                "--hardfork", "shanghai", "--miner.blockGasLimit", "30000000", "--chain.chainId", "1337",
                "--logging.quiet", "true",
            ]
            if block_time:
                command += ["--miner.blockTime", str(block_time)]
        self.process = _service.start(command)
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        _service.wait_ready(self.process, w3.is_connected, self.name, self.url, timeout=60)

    @property
    def name(self) -> str:
        """"Ganache" or "Anvil"."""
        return self.chain.capitalize()

    def stop(self) -> None:
        """Stops the node (its whole process group)."""
        _service.stop(self.process)

    def __enter__(self) -> "LocalChain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dev_account(index: int):
    """Account `index` of the dev mnemonic (the local chain's accounts)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@contextmanager
def chain_at(url: str | None, chain: str | None = None) -> Iterator[tuple[Web3, LocalChain | None]]:
    """Connects to `url`, or starts (and finally stops) a LocalChain of `chain` when it is None."""
    if url is not None:
        yield connect(url), None
        return
    with LocalChain(chain=chain) as local:
        yield connect(local.url), local
