"""The gas snapshot (issue 18): every external function of RelayLearning (and of
MergeRelayLearning's round) costs, in the scripted relays of `scripts/gas_round.py`, exactly what the committed snapshot
says for the chain it runs on (execution gas: gas used less the base and calldata
cost, see `execution_gas`; one set of figures per chain, `chain_name`). A change to
the contracts that moves any figure fails here until `make gas-snapshot` (or `make
gas`), on each chain, rewrites benchmarks/results/gas-snapshot.json and the change
commits it, so no function grows unnoticed (and no saving goes unrecorded)."""

import json

from scripts.gas_round import SNAPSHOT, chain_name, execution_gas, snapshot_gas


def differences(snapshot: dict[str, int], measured: dict[str, int]) -> list[str]:
    """One line per function whose gas is not the snapshot's (or is missing from one side)."""
    lines = []
    for name in sorted(set(snapshot) | set(measured)):
        before, now = snapshot.get(name), measured.get(name)
        if before != now:
            change = "" if None in (before, now) else f" ({now - before:+,})"
            lines.append(f"{name}: snapshot {before if before is None else f'{before:,}'}, "
                         f"measured {now if now is None else f'{now:,}'}{change}")
    return lines


def test_differences_name_every_changed_function():
    assert differences({"bid": 100, "settle": 900}, {"bid": 100, "settle": 900}) == []
    assert differences({"bid": 100, "settle": 900, "gone": 5}, {"bid": 120, "settle": 900, "new": 7}) == [
        "bid: snapshot 100, measured 120 (+20)", "gone: snapshot 5, measured None", "new: snapshot None, measured 7"]


def test_every_function_costs_what_the_snapshot_says():
    chain = chain_name()
    snapshot = json.loads(SNAPSHOT.read_text()).get(chain, {})
    changed = differences(snapshot, snapshot_gas(execution_gas))
    assert not changed, (f"gas on {chain} differs from benchmarks/results/gas-snapshot.json; if the change is "
                         f"meant, run `make gas-snapshot CHAIN={chain}` and commit the snapshot:\n  " + "\n  ".join(changed))
