"""The chain side of the SDK: compile, start a local Ganache, connect, deploy, and turn
reverts into Python exceptions named after the contract's custom errors.

Works against any EVM JSON-RPC endpoint; with no URL, `LocalChain` starts the Ganache
from the project's node_modules on a free port and stops it on exit.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import solcx
import yaml
from eth_abi import decode
from eth_account import Account
from eth_utils import function_abi_to_4byte_selector, keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from derelayl import _service
from derelayl.addresses import create_address
from derelayl.errors import ConfigurationError, DeRelayLError, ProtocolRevert
from derelayl.params import DEFAULT_PARAMS, ProtocolParams

ROOT = Path(__file__).resolve().parents[2]
#: The embedded Ganache's accounts come from this well-known development mnemonic, so
#: tests and demos can derive their keys. Never use it on a real network.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 40
SOURCES = ("contracts/RelayLearning.sol", "contracts/RelayToken.sol")


class ChainUnreachable(DeRelayLError, ConnectionError):
    """Nothing answers JSON-RPC at the given address."""


class ContractRevert(ProtocolRevert):
    """A transaction or call reverted with one of the contracts' custom errors."""


# ----------------------------------------------------------------- compiling


@dataclass(frozen=True)
class CompiledContract:
    """ABI and creation bytecode of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def compiler_settings() -> dict[str, Any]:
    """The solc settings of brownie-config.yaml, so the SDK deploys the same bytecode."""
    config = yaml.safe_load((ROOT / "brownie-config.yaml").read_text())["compiler"]
    solc = config["solc"]
    return {
        "version": str(solc["version"]),
        "evmVersion": config["evm_version"],
        "viaIR": bool(solc.get("viaIR", False)),
        "optimizer": solc["optimizer"],
        "remappings": solc["remappings"],
    }


def compile_contracts(cache_dir: Path | None = None) -> dict[str, CompiledContract]:
    """Compiles RelayLearning and RelayToken with py-solc-x (cached by source hash)."""
    settings = compiler_settings()
    sources = {path: (ROOT / path).read_text() for path in _source_tree()}
    digest = hashlib.sha256(json.dumps([settings, sources], sort_keys=True).encode()).hexdigest()[:16]
    cache = (cache_dir or ROOT / "build" / "derelayl") / f"contracts-{digest}.json"
    if cache.exists():
        return {name: CompiledContract(**c) for name, c in json.loads(cache.read_text()).items()}
    standard_input = {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": {
            "evmVersion": settings["evmVersion"],
            "viaIR": settings["viaIR"],
            "optimizer": settings["optimizer"],
            "remappings": settings["remappings"],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    try:
        output = solcx.compile_standard(
            standard_input, solc_version=settings["version"], allow_paths=[str(ROOT)], base_path=str(ROOT)
        )
    except solcx.exceptions.SolcNotInstalled as exc:
        raise ConfigurationError(f"solc {settings['version']} is not installed: run `make setup` ({exc})") from exc
    compiled = {}
    for path in SOURCES:
        name = Path(path).stem
        artifact = output["contracts"][path][name]
        compiled[name] = CompiledContract(name, artifact["abi"], "0x" + artifact["evm"]["bytecode"]["object"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({n: asdict(c) for n, c in compiled.items()}))
    return compiled


def _source_tree() -> list[str]:
    contracts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "contracts").rglob("*.sol"))
    oz = ROOT / "node_modules" / "@openzeppelin" / "contracts"
    if not oz.exists():
        raise ConfigurationError(f"OpenZeppelin contracts not found at {oz}: run `make setup`")
    return contracts + sorted(str(p.relative_to(ROOT)) for p in oz.rglob("*.sol") if _needed(p))


def _needed(path: Path) -> bool:
    # Only the files RelayToken's imports reach (ERC20 and what it imports).
    return any(part in path.as_posix() for part in ("token/ERC20/ERC20.sol", "token/ERC20/IERC20.sol",
                                                  "extensions/IERC20Metadata.sol", "utils/Context.sol",
                                                  "interfaces/draft-IERC6093.sol"))


# ------------------------------------------------------------ local Ganache


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalChain:
    """A Ganache started from node_modules on a free port, stopped by `stop()` or on
    leaving the `with` block. Accounts come from the dev mnemonic."""

    def __init__(self, port: int | None = None, accounts: int = DEV_ACCOUNTS, block_time: float = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        executable = ROOT / "node_modules" / ".bin" / "ganache"
        if not executable.exists():
            raise ConfigurationError(f"Ganache not found at {executable}: run `make setup`")
        command = [
            str(executable), "--server.port", str(self.port), "--server.host", "127.0.0.1",
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


def connect(url: str, retries: int = 3, delay: float = 1.0) -> Web3:
    """A Web3 connected to `url`, retried a few times; `ChainUnreachable` names the URL."""
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    for attempt in range(retries):
        try:
            if w3.is_connected():
                return w3
        except Exception:  # noqa: BLE001 - reported below with the address
            pass
        if attempt + 1 < retries:
            time.sleep(delay)
    raise ChainUnreachable(f"no JSON-RPC endpoint answers at {url} (tried {retries} times)")


@contextmanager
def chain_at(url: str | None) -> Iterator[tuple[Web3, LocalChain | None]]:
    """Connects to `url`, or starts (and finally stops) a LocalChain when it is None."""
    if url is not None:
        yield connect(url), None
        return
    with LocalChain() as local:
        yield connect(local.url), local


# ------------------------------------------------------------ errors, calls


class ErrorDecoder:
    """Maps the 4-byte selectors of the contracts' custom errors to their ABI."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    self._errors[function_abi_to_4byte_selector(item)] = item

    def decode(self, data: bytes) -> ContractRevert | None:
        item = self._errors.get(data[:4])
        if item is None:
            return None
        types = [_abi_type(i) for i in item["inputs"]]
        return ContractRevert(item["name"], *decode(types, data[4:]))

    def wrap(self, exc: ContractLogicError) -> Exception:
        """The named `ContractRevert` behind a web3 revert (or the revert itself)."""
        data = exc.data
        if isinstance(data, dict):  # Ganache: {"result": "0x<selector><args>", ...}
            data = data.get("result") or data.get("data")
        data = data if isinstance(data, str) else None
        if data and data.startswith("0x") and len(data) >= 10:
            decoded = self.decode(bytes.fromhex(data[2:]))
            if decoded is not None:
                return decoded
        return exc


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


@dataclass
class Deployment:
    """Where one DeRelayL task lives on one chain."""

    chain_id: int
    rpc_url: str
    relay: str
    token: str
    block: int
    # The genesis model's key (hex), published with the deployment: nobody but the
    # genesis owner holds it, so nobody could courier it, and a trainer checks the
    # genesis with it before bidding on it. Empty: the deployer keeps the key, and
    # the SDK's trainers do not bid on the genesis.
    genesis_key: str = ""

    def __post_init__(self) -> None:
        if self.genesis_key and not re.fullmatch(r"[0-9a-fA-F]{64}", self.genesis_key):
            raise ConfigurationError(f"genesis_key must be 64 hex digits (a 32-byte key), not {self.genesis_key!r}")

    def published_genesis_key(self) -> bytes | None:
        """The genesis key this deployment publishes, or None."""
        return bytes.fromhex(self.genesis_key) if self.genesis_key else None

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        try:
            return cls(**json.loads(Path(path).read_text()))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no deployment file at {path}: run `derelayl deploy` first") from exc


def send(w3: Web3, account, call, decoder: ErrorDecoder, value: int = 0, gas: int | None = None,
         check: bool = True) -> dict[str, Any]:
    """Signs and sends `call` (a web3 contract function) from `account`; waits for the
    receipt. A revert is raised as `ContractRevert` with the contract's error name, also
    when the state changed between the check and the block (the call is then replayed
    on the state after that block, which holds whatever beat it).

    Without `gas`, the limit is an estimate plus a margin. With `gas`, one plain
    `eth_call` checks the call instead: Ganache's gas estimate of a heavy call such as
    `settle` runs it many times and can take minutes on a busy dev chain. `check=False`
    (with `gas`) sends without that check: for a call that only succeeds in a later
    block than the latest (the draw of `closeBidding`, which an `eth_call` on the latest
    block would see in the lock's block); a revert is still decoded from the receipt."""
    fields = {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address),
              "value": value, "chainId": w3.eth.chain_id}
    try:
        if gas is None:
            tx = call.build_transaction(fields)  # gas estimation runs the call: reverts surface here
            tx["gas"] = int(tx["gas"] * 1.25) + 30_000  # room for state that grew since the estimate
        else:
            if check:
                call.call({"from": account.address, "value": value})
            tx = call.build_transaction({**fields, "gas": gas})
    except ContractLogicError as exc:
        raise decoder.wrap(exc) from exc
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        replay = {"from": account.address, "to": tx.get("to"), "data": tx["data"], "value": value}
        try:
            w3.eth.call(replay, block_identifier=receipt["blockNumber"])
        except ContractLogicError as exc:
            raise decoder.wrap(exc) from exc
        raise DeRelayLError(f"transaction {tx_hash.hex()} reverted (gas used {receipt['gasUsed']} of {tx['gas']})")
    return receipt


def deploy(
    w3: Web3,
    deployer,
    params: ProtocolParams = DEFAULT_PARAMS,
    genesis_owner: str | None = None,
    genesis_hash: bytes = keccak(b"DeRelayL genesis model"),
    genesis_cid: str = "QmGenesis",
    task_spec_cid: str = "",
    allocations: dict[str, int] | None = None,
    genesis_key: bytes | None = None,
) -> Deployment:
    """Deploys RelayToken (minter = the predicted RelayLearning address) and RelayLearning.
    `genesis_key` is not sent to the chain: it is published in the returned Deployment
    (and so in its file) for trainers to check the genesis model before bidding."""
    contracts = compile_contracts()
    decoder = ErrorDecoder([c.abi for c in contracts.values()])
    token_factory = w3.eth.contract(abi=contracts["RelayToken"].abi, bytecode=contracts["RelayToken"].bytecode)
    relay_factory = w3.eth.contract(abi=contracts["RelayLearning"].abi, bytecode=contracts["RelayLearning"].bytecode)
    nonce = w3.eth.get_transaction_count(deployer.address)
    predicted = create_address(deployer.address, nonce + 1)
    token_receipt = send(w3, deployer, token_factory.constructor(predicted), decoder)
    allocations = allocations or {}
    relay_receipt = send(
        w3, deployer,
        relay_factory.constructor(
            params.as_tuple(), token_receipt["contractAddress"], genesis_owner or deployer.address,
            genesis_hash, genesis_cid, task_spec_cid, list(allocations), list(allocations.values()),
        ),
        decoder,
    )
    if relay_receipt["contractAddress"] != predicted:
        raise DeRelayLError(f"RelayLearning landed at {relay_receipt['contractAddress']}, not {predicted}")
    return Deployment(w3.eth.chain_id, w3.provider.endpoint_uri, predicted, token_receipt["contractAddress"],
                      relay_receipt["blockNumber"], genesis_key.hex() if genesis_key else "")


def relay_contract(w3: Web3, deployment: Deployment):
    """The web3 contract object of a deployment's RelayLearning, and its error decoder."""
    contracts = compile_contracts()
    decoder = ErrorDecoder([c.abi for c in contracts.values()])
    return w3.eth.contract(address=deployment.relay, abi=contracts["RelayLearning"].abi), decoder
