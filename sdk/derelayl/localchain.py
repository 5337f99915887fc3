"""A local development chain: Ganache started on a free port with the well-known dev
mnemonic, stopped by `stop()` or on leaving `with`, and the dev accounts' keys.

Ganache is found in $DERELAYL_GANACHE, else as `ganache` on PATH, else in the
node_modules/.bin of the DeRelayL checkout the working directory lies in.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from eth_account import Account
from web3 import HTTPProvider, Web3

from derelayl import _executables, _service
from derelayl.transactions import connect

#: The embedded Ganache's accounts come from this well-known development mnemonic, so
#: tests and demos can derive their keys. Never use it on a real network.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 40
#: Where a user gets Ganache (the version this project is tested with).
GANACHE_INSTALL = "npm install -g ganache@7.9.2"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ganache_executable() -> str:
    """The Ganache to start; ConfigurationError with the install command if none is found."""
    return _executables.find("ganache", "DERELAYL_GANACHE", "Ganache", GANACHE_INSTALL)


class LocalChain:
    """A Ganache on a free port, stopped by `stop()` or on leaving the `with` block.
    Accounts come from the dev mnemonic."""

    def __init__(self, port: int | None = None, accounts: int = DEV_ACCOUNTS, block_time: float = 0) -> None:
        executable = ganache_executable()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            executable, "--server.port", str(self.port), "--server.host", "127.0.0.1",
            "--wallet.mnemonic", DEV_MNEMONIC, "--wallet.totalAccounts", str(accounts),
            "--hardfork", "shanghai", "--miner.blockGasLimit", "30000000", "--chain.chainId", "1337",
            "--logging.quiet", "true",
        ]
        if block_time:
            command += ["--miner.blockTime", str(block_time)]
        self.process = _service.start(command)
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        _service.wait_ready(self.process, w3.is_connected, "Ganache", self.url, timeout=60)

    def stop(self) -> None:
        """Stops Ganache (its whole process group)."""
        _service.stop(self.process)

    def __enter__(self) -> "LocalChain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dev_account(index: int):
    """Account `index` of the dev mnemonic (Ganache's accounts)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@contextmanager
def chain_at(url: str | None) -> Iterator[tuple[Web3, LocalChain | None]]:
    """Connects to `url`, or starts (and finally stops) a LocalChain when it is None."""
    if url is not None:
        yield connect(url), None
        return
    with LocalChain() as local:
        yield connect(local.url), local
