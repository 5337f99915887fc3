"""Store throughput: put and get of 1, 10 and 100 MB through LocalStore and through a
real IPFS daemon (js-ipfs, started here), as a ratio to a plain file write and read of
the same bytes in the same run.

    .venv/bin/python benchmarks/store_throughput.py     # or: make bench-store

Writes benchmarks/results/store_throughput.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from derelayl.ipfs_node import IpfsNode
from derelayl.storage import IpfsStore, LocalStore

ROOT = Path(__file__).resolve().parent.parent
SIZES_MB = (1, 10, 100)
REPEATS = 3


def best_of(action, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp, IpfsNode() as node:
        local = LocalStore(Path(tmp) / "store")
        ipfs = IpfsStore(node.api, timeout=600)
        for mb in SIZES_MB:
            content = os.urandom(mb * 1_000_000)
            plain = Path(tmp) / "plain.bin"

            def plain_write():  # like LocalStore: written to the page cache, no fsync
                plain.write_bytes(content)

            def local_put():
                for f in (Path(tmp) / "store").glob("Qm*"):
                    f.unlink()
                local.put(content)

            row = {"megabytes": mb}
            row["plain_write_s"] = best_of(plain_write)
            row["plain_read_s"] = best_of(plain.read_bytes)
            row["local_put_s"] = best_of(local_put)
            cid = local.put(content)
            row["local_get_s"] = best_of(lambda: local.get(cid))
            row["ipfs_put_s"] = best_of(lambda: ipfs.put(content))
            row["ipfs_get_s"] = best_of(lambda: ipfs.get(cid))
            for op in ("put", "get"):
                base = row["plain_write_s" if op == "put" else "plain_read_s"]
                for store in ("local", "ipfs"):
                    row[f"{store}_{op}_ratio"] = row[f"{store}_{op}_s"] / base
                    row[f"{store}_{op}_MBps"] = mb / row[f"{store}_{op}_s"]
            results.append(row)
            print(f"{mb:>4} MB  plain write {row['plain_write_s']:.3f}s read {row['plain_read_s']:.3f}s | "
                  f"local put {row['local_put_s']:.3f}s ({row['local_put_ratio']:.1f}x) get {row['local_get_s']:.3f}s "
                  f"({row['local_get_ratio']:.1f}x) | ipfs put {row['ipfs_put_s']:.3f}s ({row['ipfs_put_ratio']:.1f}x) "
                  f"get {row['ipfs_get_s']:.3f}s ({row['ipfs_get_ratio']:.1f}x)")
    out = ROOT / "benchmarks" / "results" / "store_throughput.json"
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "repeats": REPEATS,
                               "note": "best of repeats; get includes recomputing the CID of what came back",
                               "rows": results}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
