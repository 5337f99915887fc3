"""Brownie's transaction wait, made safe on Anvil.

Brownie decides that a transaction was dropped when the sender's nonce has moved past
it and `eth_getTransactionReceipt` still finds nothing. Anvil answers
`eth_sendTransaction` before it mines, and under load it reports the sender's new nonce
a moment before it serves the receipt, so brownie raised "Tx dropped without known
replacement" for transactions that were mined (the 12-round scenario beside the
differential test, `make gas CHAIN=anvil`). Nothing in these scripts or tests ever
replaces a transaction, so a transaction of ours is never really dropped: waiting for
its receipt first, then letting brownie confirm it as usual, is exact.

Every brownie entry point (tests/conftest.py, the demo and gas scripts) calls
`wait_for_receipts()` once.
"""

from __future__ import annotations

import time

from brownie.network.transaction import TransactionReceipt
from brownie.network.web3 import web3
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

RECEIPT_TIMEOUT = 60.0  # seconds; after this brownie's own drop check decides
_POLL = 0.05


def _receipt_exists(txid: str) -> bool:
    try:
        receipt = web3.eth.get_transaction_receipt(HexBytes(txid))
    except TransactionNotFound:
        return False
    return receipt is not None and receipt["blockHash"] is not None


def wait_for_receipts() -> None:
    """Makes brownie wait for a transaction's receipt before it checks for a drop.

    Idempotent. On Ganache (which mines before it answers) the receipt is there at the
    first look, so this costs one call per transaction.
    """
    original = TransactionReceipt._await_confirmation
    if getattr(original, "waits_for_receipt", False):
        return

    def _await_confirmation(self, block_number=None, required_confs: int = 1):
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        while not _receipt_exists(self.txid) and time.monotonic() < deadline:
            time.sleep(_POLL)
        return original(self, block_number, required_confs)

    _await_confirmation.waits_for_receipt = True
    TransactionReceipt._await_confirmation = _await_confirmation
