"""Every exception the SDK raises on purpose, in one place, all rooted in `DeRelayLError`.

    DeRelayLError
    ├── ProtocolRevert          a rule of the protocol refused an action (contract error name + args)
    │   └── ContractRevert      ... said by the deployed contract (a decoded custom error)
    ├── ConfigurationError      bad parameters, files or environment, found before anything is sent
    │                           (also a ValueError)
    ├── ChainUnreachable        nothing answers JSON-RPC at an address (also a ConnectionError)
    ├── EventMissing            the node has no log of an event the relay must have emitted
    │                           (also a LookupError)
    ├── StorageError            a store could not keep or return content
    │   ├── StorageUnreachable  nothing answers at the store's address (also a ConnectionError)
    │   ├── ContentMismatch     content that does not match its CID or recorded hash: never loaded
    │   └── ContentNotFound     the store does not hold that CID (also a KeyError)
    ├── DecryptionError         ciphertext or envelope that fails authentication
    ├── TaskError               a task that cannot be loaded, a spec or data file that cannot be read
    │   └── TaskMismatch        task code or data that does not match the deployment's task spec
    └── WeightsError            weights that cannot be loaded into the task's model

The modules that raise them re-export them (`from derelayl.storage import StorageError`
keeps working), so callers can import each from where it is raised or from here.
This module imports nothing heavy: catching an SDK error never loads torch or web3.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChainUnreachable",
    "ConfigurationError",
    "ContentMismatch",
    "ContentNotFound",
    "ContractRevert",
    "DeRelayLError",
    "DecryptionError",
    "EventMissing",
    "ProtocolRevert",
    "StorageError",
    "StorageUnreachable",
    "TaskError",
    "TaskMismatch",
    "WeightsError",
]


class DeRelayLError(Exception):
    """Root of every error the SDK raises on purpose."""


class ProtocolRevert(DeRelayLError):
    """An action the protocol rules refuse, named after the contract's custom error.

    `name` is the Solidity error name (for example ``"RelayWrongPhase"``) and `args`
    its arguments, so the plain-Python model and the contract can be compared error
    for error.
    """

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args_ = args
        super().__init__(f"{name}({', '.join(map(repr, args))})")


class ContractRevert(ProtocolRevert):
    """A transaction or call reverted with one of the contracts' custom errors."""


class ConfigurationError(DeRelayLError, ValueError):
    """Invalid parameters, files or environment, detected before anything is sent."""


class ChainUnreachable(DeRelayLError, ConnectionError):
    """Nothing answers JSON-RPC at the given address."""


class EventMissing(DeRelayLError, LookupError):
    """The node returns no log of an event the relay must have emitted (a node that
    prunes old logs, or an RPC that caps log queries): the data kept only in events,
    such as a submitted model's CID, cannot be read from it."""


class StorageError(DeRelayLError):
    """A store could not keep or return content."""


class StorageUnreachable(StorageError, ConnectionError):
    """Nothing answers at the store's address."""


class ContentMismatch(StorageError):
    """Content that does not match its CID or its recorded hash: never loaded."""


class ContentNotFound(StorageError, KeyError):
    """The store does not hold that CID."""


class DecryptionError(DeRelayLError):
    """Ciphertext or envelope that fails authentication: tampered, truncated, or not
    meant for this key."""


class TaskError(DeRelayLError, ValueError):
    """A task that cannot be loaded, or a task spec or data file that cannot be read."""


class TaskMismatch(TaskError):
    """The participant's task code or data does not match the deployment's task spec."""


class WeightsError(DeRelayLError):
    """Weights that cannot be loaded into the task's model (never partly loaded)."""
