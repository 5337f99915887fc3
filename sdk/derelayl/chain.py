"""Compatibility: import from the modules below.

`derelayl.chain` used to do six jobs; each now has its own module:

- `derelayl.artifacts`     the compiled contracts shipped as package data
- `derelayl.localchain`    a local Ganache (`LocalChain`, `free_port`, dev accounts, `chain_at`)
- `derelayl.transactions`  `connect`, `send`, `ErrorDecoder`
- `derelayl.deployment`    the `Deployment` record and its validated `load`
- `derelayl.deploying`     `deploy()` and `relay_contract()`
- `derelayl.errors`        `ChainUnreachable`, `ContractRevert` and every other SDK error

This module only re-exports those names, for code that still imports
`from derelayl.chain import ...`.
"""

from __future__ import annotations

from derelayl.artifacts import CompiledContract, load_contracts
from derelayl.deploying import deploy, relay_contract
from derelayl.deployment import Deployment
from derelayl.errors import ChainUnreachable, ContractRevert
from derelayl.localchain import DEV_ACCOUNTS, DEV_MNEMONIC, LocalChain, chain_at, dev_account, free_port
from derelayl.transactions import ErrorDecoder, connect, send

#: Former name of `load_contracts`: the contracts are no longer compiled at run time.
compile_contracts = load_contracts

__all__ = [
    "DEV_ACCOUNTS",
    "DEV_MNEMONIC",
    "ChainUnreachable",
    "CompiledContract",
    "ContractRevert",
    "Deployment",
    "ErrorDecoder",
    "LocalChain",
    "chain_at",
    "compile_contracts",
    "connect",
    "deploy",
    "dev_account",
    "free_port",
    "load_contracts",
    "relay_contract",
    "send",
]
