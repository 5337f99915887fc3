"""Talking to any EVM JSON-RPC endpoint: `connect` (retried, `ChainUnreachable` names
the URL), `send` (sign, send, wait, reverts raised by name) and `ErrorDecoder` (the
contracts' custom errors turned into `ContractRevert` with the contract's words)."""

from __future__ import annotations

import time
from typing import Any

from eth_abi import decode
from eth_utils import function_abi_to_4byte_selector
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from derelayl.errors import ChainUnreachable, ContractRevert, DeRelayLError

__all__ = ["ChainUnreachable", "ContractRevert", "ErrorDecoder", "GAS_LIMITS", "connect", "gas_limit", "send"]

#: Seconds between two looks for a sent transaction's receipt. web3's default, 0.1 s,
#: made receipts a quarter of a participant's JSON-RPC calls on the demo's 1-second
#: blocks (9 `eth_getTransactionReceipt` a transaction); a chain that mines at once
#: answers the first look whatever the interval.
RECEIPT_POLL_SECONDS = 0.25

#: Known gas limits of the participants' transactions, so that `send` checks a call with
#: one `eth_call` instead of a gas estimate (Ganache's runs the call many times: seconds
#: each on a busy dev chain, and 12 s or more with tens of participants, issue 18). Each
#: limit is at least twice what the function costs at the largest round the caps allow
#: (benchmarks/results/gas.json, gas-snapshot.json): a fixed figure, or a base plus a
#: figure per score (`reveal`: one stored score per slot, up to 64) or per key
#: envelope (`submit`: one per evaluator, up to 16, logged). The heavy calls that loop
#: over a round (`closeBidding`, `closeTraining`, `closeCommit`, `settle`) get half a
#: block from `RelayClient`. A limit that is too low costs the gas of a failed
#: transaction, never state: `send` then names the limit (see its error).
GAS_LIMITS: dict[str, int | tuple[int, int, int]] = {
    # name: limit, or (base, per item, index of the list argument counted)
    "registerKey": 120_000,
    "bid": 300_000,  # may evict the lowest bid (a refund)
    "offer": 300_000,
    "stakeEvaluator": 300_000,
    "courierOffer": 300_000,
    "deliverKey": 150_000,
    "courierKey": 150_000,
    "requestKey": 100_000,
    "submit": (300_000, 20_000, 4),
    "commit": 150_000,
    "reveal": (200_000, 30_000, 1),
    "reclaimStake": 200_000,
    "reclaimUndelivered": 150_000,
    "claim": 2_000_000,  # up to 64 layers, about 7,300 gas each after the first (gas.json)
    "withdraw": 150_000,
    "approve": 120_000,  # the token's
}


def gas_limit(call) -> int | None:
    """The known limit of contract call `call` (`GAS_LIMITS`), or None (estimate it)."""
    rule = GAS_LIMITS.get(getattr(call, "fn_name", None) or getattr(call, "abi_element_identifier", ""))
    if rule is None or isinstance(rule, int):
        return rule
    base, per_item, index = rule
    args = getattr(call, "args", ()) or ()
    return base + per_item * (len(args[index]) if len(args) > index else 0)


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


class ErrorDecoder:
    """Maps the 4-byte selectors of the contracts' custom errors to their ABI."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, dict[str, Any]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    self._errors[function_abi_to_4byte_selector(item)] = item

    def decode(self, data: bytes) -> ContractRevert | None:
        """The custom error encoded in revert `data`, or None if it is not one of ours."""
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


def send(w3: Web3, account, call, decoder: ErrorDecoder, value: int = 0, gas: int | None = None,
         check: bool = True) -> dict[str, Any]:
    """Signs and sends `call` (a web3 contract function) from `account`; waits for the
    receipt. A revert is raised as `ContractRevert` with the contract's error name, also
    when the state changed between the check and the block (the call is then replayed
    on the state after that block, which holds whatever beat it).

    Without `gas`, the limit is the function's known limit (`GAS_LIMITS`), else an
    estimate plus a margin. With a limit, one plain
    `eth_call` checks the call instead: Ganache's gas estimate of a heavy call such as
    `settle` runs it many times and can take minutes on a busy dev chain. `check=False`
    (with `gas`) sends without that check: for a call that only succeeds in a later
    block than the latest (the draw of `closeBidding`, which an `eth_call` on the latest
    block would see in the lock's block); a revert is still decoded from the receipt."""
    gas = gas if gas is not None else gas_limit(call)
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
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=RECEIPT_POLL_SECONDS)
    if receipt["status"] != 1:
        replay = {"from": account.address, "to": tx.get("to"), "data": tx["data"], "value": value}
        try:
            w3.eth.call(replay, block_identifier=receipt["blockNumber"])
        except ContractLogicError as exc:
            raise decoder.wrap(exc) from exc
        if receipt["gasUsed"] >= tx["gas"]:
            raise DeRelayLError(f"transaction {tx_hash.hex()} ran out of gas at its limit of {tx['gas']} "
                                f"(derelayl.transactions.GAS_LIMITS); nothing changed on chain")
        raise DeRelayLError(f"transaction {tx_hash.hex()} reverted (gas used {receipt['gasUsed']} of {tx['gas']})")
    return receipt
