"""Where one relay turn's gas goes, storage write by storage write (a brownie script).

    make gas-writes   # = tools/brownie-on-chain.sh run $PWD/benchmarks/gas_writes.py

Plays the gas benchmark's typical round (scripts/gas_round.py `typical_round_gas`:
2 MOs, 8 trainers, 4 evaluators) on a fresh Ganache, recording its transactions, and
takes the relay turn exactly as benchmarks/gas.py does: the median bid + the median
submit + the median settle / 8 + claim(1, 1). A median of an even count is the mean of
the two middle transactions, so each part here is the mean of the attributions of its
middle transactions (settle: the mean of the round's two settles, / 8).

Each transaction's opcode trace (Ganache `debug_traceTransaction`, no memory or
storage capture) is attributed step by step:
- every SSTORE, in the relay and in the token, with its slot mapped back to a storage
  variable from the compiler's storage layout (solc standard JSON `storageLayout`),
  cold or warm, its original/current/new value and its EIP-2929/2200/3529 cost and
  refund (computed here and checked against the gas Ganache charged for the step);
- SLOADs (cold 2,100 / warm 100), LOGs (375 + 375 per topic + 8 per data byte),
  KECCAK256, the CALLs to the token (their overhead; what runs inside is attributed
  like the relay's own steps), calldata and the 21,000 base, and the rest (stack,
  memory, jumps, arithmetic);
- the refund, from the SSTORE rows, capped at a fifth of the gas (EIP-3529).
The rows sum to each transaction's gas used (asserted). Then each redesign of issue
18 is estimated from the rows it removes or shrinks (estimates, not measurements:
no contract here is changed). Writes benchmarks/results/gas_writes.json and
docs/gas-writes.md.
"""

from __future__ import annotations

import bisect
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import solcx
from brownie import accounts, network, web3
from eth_utils import keccak

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from build_artifacts import compiler_settings, source_tree  # noqa: E402
from gas import erc20_transfer_gas  # noqa: E402  (the reference of benchmarks/gas.py)
from scripts.gas_round import relay_turn_parts, typical_round_gas  # noqa: E402

from derelayl import TEST_PARAMS, TOKEN  # noqa: E402
from scripts.deploy import deploy  # noqa: E402
from scripts.receipts import wait_for_receipts  # noqa: E402

EVENTS: dict[int, str] = {}  # topic0 -> event name, filled from the ABIs
OUT_JSON = ROOT / "benchmarks" / "results" / "gas_writes.json"
OUT_DOC = ROOT / "docs" / "gas-writes.md"

# ------------------------------------------------------------ storage layout


def storage_layouts() -> dict[str, dict]:
    """The compiler's storage layout of RelayLearning and RelayToken (same settings as brownie)."""
    s = compiler_settings()
    sources = {f: {"content": (ROOT / f).read_text()} for f in source_tree()}
    remappings = [r.replace("=node_modules", f"={ROOT / 'node_modules'}") for r in s["remappings"]]
    standard = {"language": "Solidity", "sources": sources,
                "settings": {"evmVersion": s["evmVersion"], "viaIR": s["viaIR"], "optimizer": s["optimizer"],
                             "remappings": remappings, "outputSelection": {"*": {"*": ["storageLayout"]}}}}
    out = solcx.compile_standard(standard, solc_version=s["version"], allow_paths=[str(ROOT)], base_path=str(ROOT))
    return {"RelayLearning": out["contracts"]["contracts/RelayLearning.sol"]["RelayLearning"]["storageLayout"],
            "RelayToken": out["contracts"]["contracts/RelayToken.sol"]["RelayToken"]["storageLayout"]}


def _h(*words: int) -> int:
    return int.from_bytes(keccak(b"".join(w.to_bytes(32, "big") for w in words)), "big")


def _type_name(t: str) -> str:
    # t_struct(Slot)6435_storage -> Slot ; t_uint256 -> uint256
    if t.startswith("t_struct("):
        return t[len("t_struct("):t.index(")")]
    return t[2:].split("_")[0] if t.startswith("t_") else t


class SlotMap:
    """Maps a storage slot to `variable[key]...field` (and its generic form `Struct.field`),
    by enumerating the layout's mappings over small key domains (rounds, ids, layers and
    indices below UINTS; the run's accounts and contracts as addresses)."""

    UINTS = range(0, 24)
    ARRAY_MAX = 64

    def __init__(self, layout: dict, addresses: list[str], address_names: dict[str, str]):
        self.types = layout["types"]
        self.addresses = [int(a, 16) for a in addresses]
        self.names = {int(a, 16): n for a, n in address_names.items()}
        self.regions: dict[int, tuple[str, str, str]] = {}  # start -> (label, generic, type)
        for var in layout["storage"]:
            self._add(int(var["slot"]), var["label"], var["label"], var["type"])
        self.starts = sorted(self.regions)

    def _key_name(self, key_type: str, k: int) -> str:
        if key_type == "t_address":
            return self.names.get(k, hex(k))
        return str(k)

    def _add(self, slot: int, label: str, generic: str, t: str) -> None:
        info = self.types[t]
        self.regions[slot] = (label, generic, t)
        enc = info["encoding"]
        if enc == "mapping":
            key_type, value = info["key"], info["value"]
            domain = self.addresses if key_type == "t_address" else self.UINTS
            for k in domain:
                self._add(_h(k, slot), f"{label}[{self._key_name(key_type, k)}]", f"{generic}[]", value)
        elif enc == "dynamic_array":
            base = info["base"]
            data = _h(slot)
            self.regions[data] = (f"{label}.data", f"{generic}.data", "array_data:" + base)
            size = int(self.types[base]["numberOfBytes"])
            words = (size + 31) // 32
            if self.types[base].get("members") or self.types[base]["encoding"] != "inplace":
                for i in range(self.ARRAY_MAX):
                    self._add(data + i * words, f"{label}[{i}]", f"{generic}[]", base)
        elif enc == "bytes":
            self.regions[_h(slot)] = (f"{label}.data", f"{generic}.data", "bytes_data")
        elif info.get("members"):
            for m in info["members"]:
                mt = self.types[m["type"]]
                if mt["encoding"] != "inplace" or mt.get("members"):
                    self._add(slot + int(m["slot"]), f"{label}.{m['label']}", f"{generic}.{m['label']}", m["type"])

    def members_at(self, t: str, word: int) -> list[dict]:
        info = self.types[t]
        return [m for m in info.get("members", []) if int(m["slot"]) == word]

    def resolve(self, slot: int) -> tuple[str, str, list[tuple[str, int, int]]]:
        """(label, generic label, [(field, byte offset, bytes)] packed in this word)."""
        i = bisect.bisect_right(self.starts, slot) - 1
        while i >= 0:
            start = self.starts[i]
            label, generic, t = self.regions[start]
            word = slot - start
            if t.startswith("array_data:"):
                base = t.split(":", 1)[1]
                size = int(self.types[base]["numberOfBytes"])
                if size <= 16 and not self.types[base].get("members"):  # packed elements
                    per = 32 // size
                    if word < (self.ARRAY_MAX + per - 1) // per:
                        return (f"{label}[{word * per}..{word * per + per - 1}]", f"{generic}[]",
                                [(f"[{word * per + j}]", j * size, size) for j in range(per)])
                elif word < self.ARRAY_MAX * ((size + 31) // 32):
                    return f"{label}[{word}]", f"{generic}[]", [("", 0, 32)]
            elif t == "bytes_data":
                if word < 8:
                    return f"{label} word {word}", generic, [("", 0, 32)]
            else:
                info = self.types[t]
                span = (int(info["numberOfBytes"]) + 31) // 32
                if word < span:
                    if info.get("members"):
                        members = self.members_at(t, word)
                        struct = _type_name(t)
                        fields = [(m["label"], int(m["offset"]), int(self.types[m["type"]]["numberOfBytes"]))
                                  for m in members]
                        names = "+".join(m["label"] for m in members)
                        if info["encoding"] == "inplace" and len(members) == 1 and \
                                self.types[members[0]["type"]]["encoding"] == "bytes":
                            return f"{label}.{names} (length)", f"{struct}.{names} (length)", fields
                        return f"{label}.{names}", f"{struct}.{names}", fields
                    if info["encoding"] == "bytes":
                        return f"{label} (length)", f"{generic} (length)", [("", 0, 32)]
                    return label, generic, [("", 0, 32)]
            i -= 1
            if slot - self.starts[i + 1] > 1 << 20:
                break
        return f"unresolved {hex(slot)}", "unresolved", [("", 0, 32)]


# ------------------------------------------------------------------ trace


def sstore_cost(original: int, current: int, new: int, cold: bool) -> tuple[int, int, str]:
    """EIP-2929 + EIP-2200 + EIP-3529 (shanghai): (gas, refund, kind)."""
    gas = 2100 if cold else 0
    refund = 0
    if current == new:
        gas, kind = gas + 100, "no-op"
    elif original == current:
        if original == 0:
            gas, kind = gas + 20000, "zero->nonzero"
        else:
            gas, kind = gas + 2900, "nonzero->zero" if new == 0 else "nonzero->nonzero"
            if new == 0:
                refund += 4800
    else:
        gas, kind = gas + 100, "dirty"
        if original != 0:
            if current == 0:
                refund -= 4800
            elif new == 0:
                refund += 4800
        if original == new:
            refund += 19900 if original == 0 else 2800
            kind = "dirty (restored)"
    return gas, refund, kind


def _final_cost(step) -> int:
    """The cost of a frame's last step. Ganache reports nonsense there (a negative gasCost
    for STOP); STOP and RETURN cost nothing (RETURN's memory is already expanded here,
    which the sum check against gas used confirms)."""
    if step["op"] in ("STOP", "RETURN", "REVERT"):
        return 0
    return step["gasCost"]


def _num(x) -> int:
    return int(x, 16) if isinstance(x, str) and x.startswith("0x") else int(x)


def _word(x) -> int:
    return int(x, 16) if isinstance(x, str) else int(x)


class Attribution:
    """One transaction's gas, row by row."""

    def __init__(self, tx, slotmaps: dict[str, SlotMap], names: dict[str, str]):
        self.tx = tx
        self.rows: list[dict] = []  # every SSTORE
        self.cat: dict[str, float] = defaultdict(float)
        self.sload: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # generic -> [count, cold, gas]
        self.logs: list[dict] = []
        # (contract, slot) -> its reads, writes and access, in order
        self.slots: dict[tuple[str, str], dict] = {}
        self._trace(tx, slotmaps, names)

    def _slot(self, contract, slot, slotmaps):
        key = (contract, hex(slot))
        if key not in self.slots:
            label, generic, _ = slotmaps[contract].resolve(slot) if contract in slotmaps else (hex(slot), "?", None)
            self.slots[key] = {"contract": contract, "slot": hex(slot), "variable": label, "generic": generic,
                               "reads": 0, "read_gas": 0, "writes": [], "write_gas": 0, "cold_access": 0,
                               "refund": 0, "new": False, "fields_changed": []}
        return self.slots[key]

    def _trace(self, tx, slotmaps, names):
        res = web3.provider.make_request("debug_traceTransaction", [tx.txid, {
            "disableStorage": True, "disableMemory": True, "disableStack": False}])
        logs = res["result"]["structLogs"]
        for step in logs:
            step["gas"], step["gasCost"], step["depth"] = (_num(step["gas"]), _num(step["gasCost"]),
                                                           _num(step["depth"]))
        block = tx.block_number - 1
        data = bytes.fromhex(tx.input[2:])
        zero = data.count(0)
        intrinsic = tx.gas_limit - logs[0]["gas"]
        calldata = 4 * zero + 16 * (len(data) - zero)
        assert intrinsic == 21000 + calldata, (intrinsic, calldata)
        self.cat["base 21,000"] += 21000
        self.cat["calldata"] += calldata
        self.calldata_bytes = len(data)
        original: dict[tuple[int, int], int] = {}
        current: dict[tuple[int, int], int] = {}
        warm: set[tuple[int, int]] = set()
        frames = [int(tx.receiver, 16)]  # executing address per depth
        depth0 = logs[0]["depth"]
        refund = 0
        pending_sload = None
        n = len(logs)
        total = 0
        for i, step in enumerate(logs):
            op, depth = step["op"], step["depth"]
            level = depth - depth0
            del frames[level + 1:]
            addr = frames[level]
            contract = names.get(hex(addr), hex(addr))
            stack = step.get("stack") or []
            if pending_sload is not None:
                key, slot_owner = pending_sload
                current.setdefault(key, _word(stack[-1]))
                pending_sload = None
            # gas of this step (for a CALL: the whole call, callee included)
            nxt = next((j for j in range(i + 1, n) if logs[j]["depth"] <= depth), None)
            if nxt is not None and logs[nxt]["depth"] == depth:
                cost = step["gas"] - logs[nxt]["gas"]
            else:
                cost = _final_cost(step)
            callee_cost = 0
            if op in ("CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"):
                target = _word(stack[-2])
                frames.append(addr if op in ("DELEGATECALL", "CALLCODE") else target)
                # what the callee's own steps cost is attributed to them
                j = i + 1
                while j < n and logs[j]["depth"] > depth:
                    if logs[j]["depth"] == depth + 1:
                        k = next((m for m in range(j + 1, n) if logs[m]["depth"] <= depth + 1), None)
                        if k is not None and logs[k]["depth"] == depth + 1:
                            callee_cost += logs[j]["gas"] - logs[k]["gas"]
                        else:
                            callee_cost += _final_cost(logs[j])
                    j += 1
                self.cat[f"CALL overhead ({contract} -> {names.get(hex(target), hex(target))})"] += cost - callee_cost
                if level == 0:
                    total += cost
                continue
            if level == 0:
                total += cost
            if op == "SSTORE":
                slot, new = _word(stack[-1]), _word(stack[-2])
                key = (addr, slot)
                if key not in original:
                    original[key] = web3.eth.get_storage_at(web3.to_checksum_address(hex(addr)), slot, block).hex()
                    original[key] = int(original[key], 16) if original[key] not in ("0x", "") else 0
                orig = original[key]
                cur = current.get(key, orig)
                cold = key not in warm
                warm.add(key)
                gas, ref, kind = sstore_cost(orig, cur, new, cold)
                assert gas == cost, (op, gas, cost, hex(slot), orig, cur, new, cold)
                refund += ref
                current[key] = new
                label, generic, fields = slotmaps[contract].resolve(slot) if contract in slotmaps else \
                    (hex(slot), "?", [("", 0, 32)])
                changed = [f for f, off, size in fields
                           if (cur >> (8 * off)) % (1 << (8 * size)) != (new >> (8 * off)) % (1 << (8 * size))]
                self.rows.append({"contract": contract, "slot": hex(slot), "variable": label, "generic": generic,
                                  "fields_changed": changed, "cold": cold, "kind": kind, "gas": gas,
                                  "refund": ref, "original": hex(orig), "before": hex(cur), "after": hex(new)})
                self.cat[f"SSTORE ({contract})"] += gas
                rec = self._slot(contract, slot, slotmaps)
                rec["writes"].append(kind)
                rec["write_gas"] += gas - (2100 if cold else 0)
                rec["cold_access"] += 2100 if cold else 0
                rec["refund"] += ref
                rec["new"] = rec["new"] or (orig == 0 and kind == "zero->nonzero")
                rec["fields_changed"] = sorted(set(rec["fields_changed"]) | {f for f in changed if f})
            elif op == "SLOAD":
                slot = _word(stack[-1])
                key = (addr, slot)
                cold = key not in warm
                warm.add(key)
                assert cost == (2100 if cold else 100), (cost, cold)
                _, generic, _ = slotmaps[contract].resolve(slot) if contract in slotmaps else ("", hex(slot), None)
                rec = self.sload[f"{contract}: {generic}"]
                rec[0] += 1
                rec[1] += int(cold)
                rec[2] += cost
                self.cat[f"SLOAD cold ({contract})" if cold else f"SLOAD warm ({contract})"] += cost
                srec = self._slot(contract, slot, slotmaps)
                srec["reads"] += 1
                srec["read_gas"] += 100
                srec["cold_access"] += 2100 if cold else 0
                pending_sload = (key, contract)
            elif op.startswith("LOG"):
                topics = int(op[3:])
                size = _word(stack[-2])
                fixed = 375 + 375 * topics + 8 * size
                topic0 = _word(stack[-3]) if topics else None
                self.logs.append({"contract": contract, "event": EVENTS.get(topic0, hex(topic0 or 0)),
                                  "topics": topics, "data_bytes": size, "gas": cost})
                self.cat[f"LOG base+topics ({contract})"] += 375 + 375 * topics
                self.cat[f"LOG data bytes ({contract})"] += 8 * size
                if cost != fixed:
                    self.cat[f"LOG memory expansion ({contract})"] += cost - fixed
            elif op in ("KECCAK256", "SHA3"):
                self.cat[f"KECCAK256 ({contract})"] += cost
            elif op == "EXTCODESIZE":
                self.cat[f"EXTCODESIZE before a call ({contract})"] += cost
            else:
                self.cat[f"rest: stack, memory, jumps, arithmetic ({contract})"] += cost
        before_refund = intrinsic + total
        capped = min(refund, before_refund // 5)
        self.cat["refund"] -= capped
        self.refund_uncapped = refund
        assert before_refund - capped == tx.gas_used, (before_refund, capped, tx.gas_used)
        assert abs(sum(self.cat.values()) - tx.gas_used) < 1e-6, (sum(self.cat.values()), tx.gas_used)
        self.gas_used = tx.gas_used
        self.steps = n


# ------------------------------------------------------------------- scenario


def middle(txs: list) -> list:
    """The transactions statistics.median takes: the middle one, or the middle two."""
    ordered = sorted(txs, key=lambda t: t.gas_used)
    n = len(ordered)
    return [ordered[n // 2]] if n % 2 else [ordered[n // 2 - 1], ordered[n // 2]]


def play() -> dict:
    recorded = []

    def record(tx):
        recorded.append(tx)
        return tx.gas_used

    figures = typical_round_gas(record)
    relay_turn = sum(relay_turn_parts(figures).values())
    by_fn = defaultdict(list)
    for tx in recorded:
        by_fn[tx.fn_name].append(tx)
    return {"figures": figures, "relay_turn_gas": relay_turn, "by_fn": by_fn}


PARTS = ("bid", "submit", "settle", "claim")
PART_NAMES = {"bid": "bid", "submit": "submit", "settle": "settle / 8", "claim": "claim (1 layer)"}


class Turn:
    """The relay turn of benchmarks/gas.py as weighted transactions: each middle
    transaction of bid and submit at 1/n of the median, each settle at 1/2 of the median
    and 1/8 of the round, the claim at 1."""

    def __init__(self, parts: dict[str, list[tuple[Attribution, float]]]):
        self.parts = parts

    def category(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for part, txs in self.parts.items():
            for a, w in txs:
                for k, v in a.cat.items():
                    out[k][part] += w * v
        return out

    def slots(self) -> list[dict]:
        """Per part and generic storage variable: weighted gas of its slots' reads, writes,
        cold access and refunds, the count of slots (per transaction) and their kinds."""
        groups: dict[tuple, dict] = {}
        for part, txs in self.parts.items():
            for a, w in txs:
                for rec in a.slots.values():
                    key = (part, rec["contract"], rec["generic"], rec["new"], bool(rec["writes"]))
                    g = groups.setdefault(key, {"part": part, "contract": rec["contract"], "variable": rec["generic"],
                                                "new_slot": rec["new"], "written": bool(rec["writes"]),
                                                "slots": 0.0, "reads": 0.0, "writes": 0.0, "read_gas": 0.0,
                                                "write_gas": 0.0, "cold_access": 0.0, "refund": 0.0, "kinds": {},
                                                "fields_changed": set(), "example": rec["variable"]})
                    g["slots"] += w
                    g["reads"] += w * rec["reads"]
                    g["writes"] += w * len(rec["writes"])
                    for f in ("read_gas", "write_gas", "cold_access", "refund"):
                        g[f] += w * rec[f]
                    for kind in rec["writes"]:
                        g["kinds"][kind] = g["kinds"].get(kind, 0) + w
                    g["fields_changed"] |= set(rec["fields_changed"])
        rows = []
        for g in groups.values():
            g["total"] = g["read_gas"] + g["write_gas"] + g["cold_access"]
            g["fields_changed"] = sorted(g["fields_changed"])
            rows.append(g)
        return sorted(rows, key=lambda g: -g["total"])


def _txs_per(part: str, turn: Turn) -> float:
    return sum(w for _, w in turn.parts[part])


def redesigns(turn: Turn, extra: dict) -> list[dict]:
    """Each candidate of issue 18, from the measured rows it removes (estimates: no
    contract is changed). `removes` lists (part, variable, which slots) and the gas
    those rows cost in the turn; `adds` what the change would cost instead."""
    rows = turn.slots()

    def pick(part, variable, new=None, written=None, what="total"):
        sel = [r for r in rows if r["part"] == part and r["variable"] == variable
               and (new is None or r["new_slot"] == new) and (written is None or r["written"] == written)]
        return sum(r[what] for r in sel) - (sum(r["refund"] for r in sel) if what == "total" else 0), sel

    def item(part, variable, why, new=None, written=None, what="total"):
        gas, sel = pick(part, variable, new, written, what)
        return {"part": part, "variable": variable, "gas": gas, "why": why,
                "slots_per_tx": round(sum(r["slots"] for r in sel) / max(_txs_per(part, turn), 1e-9), 3)}

    cat = turn.category()
    token_gas = {p: sum(v.get(p, 0) for k, v in cat.items()
                        if "(RelayToken)" in k or k.startswith("CALL overhead") or k.startswith("EXTCODESIZE"))
                 for p in PARTS}
    out = [
        {"name": "keep in events what only off-chain readers need (the totals)",
         "removes": [
             item("bid", "_totalLocked", "read on chain only to update itself; the SDK's totalLocked() and the "
                  "invariant tests can sum the events (Credited, CreditSpent, Forfeited)"),
             item("bid", "_totalCredited", "same, for the sum of credits"),
             item("settle", "_totalLocked", "same (its refund at the round's end goes too)"),
             item("settle", "_totalCredited", "same"),
             item("claim", "_totalCredited", "same"),
         ], "adds": []},
        {"name": "avoid writing what can be derived",
         "removes": [
             item("submit", "Slot.trainer+parentId+delivered+submitted+reclaimed+couriered",
                  "Slot.submitted is weightsHash != 0: the write goes (the read stays)", what="write_gas"),
         ], "adds": []},
        {"name": "lazy mint/burn instead of token calls per credit",
         "removes": [{"part": p, "variable": "RelayToken calls (mint, burn)", "gas": token_gas[p],
                      "why": "everything inside the token's frames, the CALL and EXTCODESIZE: mint only at "
                             "withdraw, burn forfeits in one batch; the relay-side ABI encoding is not counted"}
                     for p in PARTS if token_gas[p]],
         "adds": [{"part": "settle", "gas": 5000 / 16 * 2,
                   "why": "a pending-burn counter written once per settle (5,000 each, estimated)"}],
         "note": "totalSupply then excludes unwithdrawn credit; in this turn no deposit comes from a wallet "
                 "(the holders' allocations are credit), so no transferFrom is in it"},
        {"name": "(beyond the issue's list) Params as immutables",
         "removes": [{"part": p, "variable": "Params.*", "gas": sum(r["total"] for r in rows
                                                                    if r["part"] == p and r["variable"].startswith("Params.")),
                      "why": "fixed at deployment: an immutable costs 3 gas, not a 2,100 cold read"}
                     for p in PARTS],
         "adds": [], "note": "adds a PUSH32 per use to RelayLearning's code, which must stay under 24,576 bytes"},
    ]
    for r in out:
        r["removed_gas"] = sum(x["gas"] for x in r["removes"])
        r["added_gas"] = sum(x["gas"] for x in r["adds"])
        r["saving"] = r["removed_gas"] - r["added_gas"]
    return out


def main() -> None:
    wait_for_receipts()
    started = time.time()
    print(f"gas-writes on {network.show_active()}")
    played = play()
    by_fn = played["by_fn"]
    from brownie import RelayLearning, RelayToken
    for abi in (RelayLearning.abi, RelayToken.abi):
        for e in abi:
            if e["type"] == "event":
                sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
                EVENTS[int.from_bytes(keccak(text=sig), "big")] = e["name"]
    relay = by_fn["bid"][0].receiver
    token = RelayLearning.at(relay).token()
    names = {relay.lower(): "RelayLearning", token.lower(): "RelayToken"}
    for i, a in enumerate(accounts):
        names[a.address.lower()] = f"accounts[{i}]"
    layouts = storage_layouts()
    addrs = [relay, token, *[a.address for a in accounts]]
    slotmaps = {c: SlotMap(layouts[c], addrs, names) for c in layouts}
    parts: dict[str, list] = {}
    for fn in PARTS:
        txs = middle(by_fn[fn]) if fn != "settle" else by_fn["settle"]
        weight = 1 / len(txs) / (8 if fn == "settle" else 1)
        if fn == "settle":
            assert len(txs) == 2, "the turn's settle share is the median of the round's two settles / 8"
        parts[fn] = [(Attribution(tx, slotmaps, names), weight) for tx in txs]
        print(f"  traced {fn}: {[tx.gas_used for tx in txs]}")
    turn = Turn(parts)
    cat = turn.category()
    turn_total = sum(sum(v.values()) for v in cat.values())
    # the transfer reference, as benchmarks/gas.py measures it, and one traced
    transfer = erc20_transfer_gas()
    holder = accounts[1]
    tok, rel = deploy(accounts[0], TEST_PARAMS, holder, {holder: 10 * TOKEN})
    rel.withdraw(10 * TOKEN, {"from": holder})
    ttx = tok.transfer(accounts[35], TOKEN, {"from": holder})
    tnames = {tok.address.lower(): "RelayToken", rel.address.lower(): "RelayLearning",
              **{a.address.lower(): f"accounts[{i}]" for i, a in enumerate(accounts)}}
    tmaps = {"RelayToken": SlotMap(layouts["RelayToken"], [tok.address, rel.address, *[a.address for a in accounts]],
                                   tnames)}
    ta = Attribution(ttx, tmaps, tnames)
    assert ttx.gas_used == transfer["new_holder"], (ttx.gas_used, transfer)
    extra: dict = {}
    plans = redesigns(turn, extra)
    combined = [p for p in plans if not p["name"].startswith("(beyond")]
    combined_saving = sum(p["saving"] for p in combined)
    beyond = next(p for p in plans if p["name"].startswith("(beyond"))
    reference = transfer["new_holder"]
    result = {
        "relay_turn_gas": played["relay_turn_gas"],
        "relay_turn_gas_from_rows": round(turn_total, 2),
        "relay_turn_parts": {p: round(sum(a.gas_used * w for a, w in parts[p]), 2) for p in PARTS},
        "traced": {p: [{"tx": a.tx.txid, "gas_used": a.gas_used, "weight": w, "steps": a.steps,
                        "refund_uncapped": a.refund_uncapped} for a, w in parts[p]] for p in PARTS},
        "erc20_transfer_gas": reference,
        "erc20_transfer_gas_existing_holder": transfer["existing_holder"],
        "erc20_transfer_rows": {"categories": dict(ta.cat), "sstores": ta.rows},
        "ratio": played["relay_turn_gas"] / reference,
        "goal_gas": 4 * reference,
        "by_category": {k: {p: round(v.get(p, 0), 2) for p in PARTS} | {"turn": round(sum(v.values()), 2)}
                        for k, v in sorted(cat.items(), key=lambda kv: -abs(sum(kv[1].values())))},
        "by_storage_variable": turn.slots(),
        "events": {p: _events(parts[p]) for p in PARTS},
        "sstores": {p: [dict(r, weight=w, tx=a.tx.txid) for a, w in parts[p] for r in a.rows] for p in PARTS},
        "redesigns": plans,
        "combined": {"of": [p["name"] for p in combined], "saving": round(combined_saving, 1),
                     "turn_gas": round(played["relay_turn_gas"] - combined_saving, 1),
                     "ratio": (played["relay_turn_gas"] - combined_saving) / reference,
                     "with_params_immutable": round(played["relay_turn_gas"] - combined_saving - beyond["saving"], 1),
                     "ratio_with_params_immutable":
                         (played["relay_turn_gas"] - combined_saving - beyond["saving"]) / reference},
        "extra": extra,
        "seconds": round(time.time() - started, 1),
    }
    OUT_JSON.write_text(json.dumps(result, indent=1, default=_jsonable) + "\n")
    write_doc(result)
    print(json.dumps({k: result[k] for k in ("relay_turn_gas", "relay_turn_gas_from_rows", "erc20_transfer_gas",
                                             "ratio", "combined", "seconds")}, indent=1))
    print(f"written {OUT_JSON} and {OUT_DOC}")


def _jsonable(x):
    if isinstance(x, set):
        return sorted(x)
    return str(x)


def _events(txs) -> list[dict]:
    agg: dict[tuple, dict] = {}
    for a, w in txs:
        for log in a.logs:
            g = agg.setdefault((log["contract"], log["event"], log["topics"], log["data_bytes"]),
                               {"contract": log["contract"], "event": log["event"], "topics": log["topics"],
                                "data_bytes": log["data_bytes"], "count": 0.0, "gas": 0.0})
            g["count"] += w
            g["gas"] += w * log["gas"]
    return sorted(agg.values(), key=lambda g: -g["gas"])


def _n(x: float) -> str:
    return f"{x:,.0f}"


def write_doc(r: dict) -> None:
    ref, turn = r["erc20_transfer_gas"], r["relay_turn_gas"]
    cats = r["by_category"]
    L = [
        "# Where a relay turn's gas goes, storage write by storage write",
        "",
        "Measured by `make gas-writes` (benchmarks/gas_writes.py) on Ganache 7.9.2 (shanghai), solc 0.8.28",
        "(viaIR, optimizer 200): the typical round of `make gas` (scripts/gas_round.py; 2 MOs, 8 trainers,",
        "4 evaluators), each transaction of the turn traced opcode by opcode (`debug_traceTransaction`).",
        "Raw rows: benchmarks/results/gas_writes.json. Every figure in the first three tables is measured;",
        "the savings of the redesigns not built yet are estimates computed from those rows.",
        "",
        "Built so far (issue 18): a model is one storage word (was five; its creator, parent and weights hash",
        "are read from its slot), a bid one (MAX_AMOUNT 2^96 - 1), a layer one (its models' ids are",
        "consecutive); childStart holds 32-bit positions; a submitted model's CID is kept only in its",
        "ModelSubmitted event. The gas they saved is in the snapshot's",
        "history (benchmarks/results/gas-snapshot.json, `git log -p` on it) and in docs/gas.md.",
        "",
        f"- relay turn (median bid + median submit + median settle / 8 + claim of one layer, as in benchmarks/gas.py): "
        f"**{_n(turn)} gas**; the rows below sum to {r['relay_turn_gas_from_rows']:,.2f} (gas.py rounds the medians down)",
        f"- OpenZeppelin ERC20 transfer in the same run: {_n(ref)} gas (new holder), "
        f"{_n(r['erc20_transfer_gas_existing_holder'])} (existing); ratio **{r['ratio']:.2f} transfers**; "
        f"the goal, 4 transfers, is {_n(r['goal_gas'])} gas",
        "- a median of two transactions is their mean, so bid and submit are the mean of their two middle",
        "  transactions and settle / 8 the mean of the round's two settles (4 and 8 slots) over 8; "
        f"the 8-slot settle alone is {_n(r['traced']['settle'][1]['gas_used'])} gas, "
        f"{_n(r['traced']['settle'][1]['gas_used'] / 8)} per slot",
        "",
        "## The turn by category (gas; settle already divided by 8)",
        "",
        "| category | bid | submit | settle / 8 | claim | turn |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, v in cats.items():
        L.append(f"| {k} | " + " | ".join(_n(v[p]) for p in PARTS) + f" | {_n(v['turn'])} |")
    sums = {p: sum(v[p] for v in cats.values()) for p in PARTS}
    L.append("| **sum (gas used)** | " + " | ".join(f"**{_n(sums[p])}**" for p in PARTS)
             + f" | **{_n(sum(sums.values()))}** |")
    L += ["",
          "SSTORE rows carry the write only; a slot's first (cold) access costs 2,100 wherever it falls, in the",
          "SLOAD that read it first (most writes here read the slot first) or in the SSTORE.",
          "",
          "## Storage slots written in the turn (gas in the turn: reads + writes + cold access - refund)",
          "",
          "A row is one storage variable in one transaction; 'slots' is per transaction (a settle's count is",
          "the mean of its two settles), the gas is the turn's share. `new`: the slot was zero before.",
          "",
          "| part | variable | fields changed | slots | writes (kind: count) | gas in turn |",
          "|---|---|---|---:|---|---:|"]
    rows = r["by_storage_variable"]
    written = [x for x in rows if x["written"]]
    per_tx = {p: sum(w for w in [t["weight"] for t in r["traced"][p]]) for p in PARTS}
    for x in written:
        kinds = ", ".join(f"{k}: {v / per_tx[x['part']]:.3g}" for k, v in x["kinds"].items())
        fields = ", ".join(x["fields_changed"]) or "(whole word)"
        L.append(f"| {PART_NAMES[x['part']]} | {x['contract']}.{x['variable']}{' (new)' if x['new_slot'] else ''} "
                 f"| {fields} | {x['slots'] / per_tx[x['part']]:.3g} | {kinds} | {_n(x['total'] - x['refund'])} |")
    reads = [x for x in rows if not x["written"]]
    L.append(f"| all | slots only read ({len(reads)} variables; top: "
             + ", ".join(f"{PART_NAMES[x['part']]} {x['variable']} {_n(x['total'])}" for x in reads[:4])
             + f") | | | | {_n(sum(x['total'] for x in reads))} |")
    L += ["", "## Events in the turn", "", "| part | event | topics | data bytes | count in turn | gas in turn |",
          "|---|---|---:|---:|---:|---:|"]
    for p in PARTS:
        for e in r["events"][p]:
            L.append(f"| {PART_NAMES[p]} | {e['contract']}.{e['event']} | {e['topics']} | {e['data_bytes']} "
                     f"| {e['count']:.3g} | {_n(e['gas'])} |")
    L += ["", "## Redesigns of issue 18: what each would remove from the turn (estimated from the rows above)", "",
          "| redesign | rows it removes or shrinks (gas in turn) | added (gas) | saving | turn after | transfers |",
          "|---|---|---:|---:|---:|---:|"]
    for d in r["redesigns"]:
        removed = "; ".join(f"{PART_NAMES[x['part']]} {x['variable']} {_n(x['gas'])}" for x in d["removes"] if x["gas"])
        L.append(f"| {d['name']} | {removed} | {_n(d['added_gas'])} | **{_n(d['saving'])}** "
                 f"| {_n(turn - d['saving'])} | {(turn - d['saving']) / ref:.2f} |")
    c = r["combined"]
    L += ["",
          f"**All of the issue's redesigns left together** ({'; '.join(c['of'])}): saving {_n(c['saving'])}, turn **{_n(c['turn_gas'])} gas = "
          f"{c['ratio']:.2f} transfers**; with Params as immutables too: {_n(c['with_params_immutable'])} = "
          f"{c['ratio_with_params_immutable']:.2f} transfers. The goal, 4 transfers = {_n(r['goal_gas'])}, "
          f"is {_n(c['with_params_immutable'] - r['goal_gas'])} gas further.",
          "",
          "Why each row goes:",
          ""]
    for d in r["redesigns"]:
        L.append(f"- **{d['name']}**: " + " ".join(
            f"{PART_NAMES[x['part']]} {x['variable']}: {x['why']}." for x in d["removes"] if x.get("why"))
            + (" Added: " + "; ".join(f"{PART_NAMES[a['part']]} +{_n(a['gas'])} ({a['why']})" for a in d["adds"])
               + "." if d["adds"] else "")
            + (f" {d['note']}." if d.get("note") else "") + (f" Overlap: {d['overlaps']}." if d.get("overlaps") else ""))
    removed = {(x["part"], x["variable"]) for d in r["redesigns"] if d["name"] in c["of"] for x in d["removes"]}
    # lazy mint/burn removes the token's rows (counted as whole calls there)
    left = [x for x in written if (x["part"], x["variable"]) not in removed and x["contract"] != "RelayToken"]
    L += ["", "## What stands between the turn and 4 transfers after all of them", "",
          "The storage writes no redesign above removes (gas in the turn):", "",
          "| part | variable | gas in turn |", "|---|---|---:|"]
    for x in left[:14]:
        L.append(f"| {PART_NAMES[x['part']]} | {x['contract']}.{x['variable']}{' (new)' if x['new_slot'] else ''} "
                 f"| {_n(x['total'] - x['refund'])} |")
    base = cats.get("base 21,000", {}).get("turn", 0)
    rest_writes = sum(x["total"] - x["refund"] for x in left)
    L += ["",
          f"These {len(left)} rows sum to {_n(rest_writes)} gas. Even with every one of them gone too, the turn would "
          f"be {_n(c['turn_gas'] - rest_writes)} gas = {(c['turn_gas'] - rest_writes) / ref:.2f} transfers.",
          "",
          f"Besides storage: the 21,000 base of 3 1/8 transactions is {_n(base)} gas "
          f"({base / ref:.2f} transfers) and calldata {_n(cats.get('calldata', {}).get('turn', 0))} "
          "(mostly submit's key envelopes); these no storage redesign touches.",
          "",
          "## The ERC20 transfer it is compared with (same run, traced the same way)", "",
          "| category | gas |", "|---|---:|"]
    for k, v in r["erc20_transfer_rows"]["categories"].items():
        if v:
            L.append(f"| {k} | {_n(v)} |")
    L += ["", "Its writes: " + "; ".join(f"{x['variable']} {x['kind']} {_n(x['gas'])}{' (cold)' if x['cold'] else ''}"
                                       for x in r["erc20_transfer_rows"]["sstores"]) + ".",
          "",
          "## Measured and estimated",
          "",
          "- Measured: every row of the first three tables. Each SSTORE's cost is computed from its original,",
          "  current and new value (EIP-2929/2200/3529) and asserted equal to the gas Ganache charged; each",
          "  transaction's rows are asserted to sum to its gas used, refund (capped at a fifth) included.",
          "- Slots are named from solc's storage layout by hashing the run's keys (rounds, ids, layers and",
          "  indices below 24, the run's accounts): nothing was left unresolved in this run.",
          "- Estimated: the savings. A removed slot saves what its rows cost here; a packed field is assumed",
          "  to cost nothing beyond the word it joins (masking and shifting are not counted); the added",
          "  reads are assumed cold (2,100). Lazy mint/burn's saving counts the token frames, the CALL and",
          "  EXTCODESIZE, not the relay-side encoding of the call (in 'rest').",
          "- Ganache reports a negative gasCost for a callee's STOP and the 1/64 it keeps back as a CALL's",
          "  gasCost; the script measures steps by the gas left between them instead.",
          ""]
    OUT_DOC.write_text("\n".join(L))
