"""The README's "Your own relay" commands, run literally as a user would.

The commands are read from README.md (the ```bash block after the marker
`<!-- test: own-relay node -->`, started in the background like a first terminal, and
the block after `<!-- test: own-relay -->`, run in a second), never copied here, so
the README cannot drift from what works. They run in a scratch folder holding a copy
of examples/ (the user's own task and participant folders), with the installed
`derelayl` on PATH, and must end with models accepted in both rounds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def readme_block(marker: str) -> str:
    """The ```bash block right after `<!-- test: MARKER -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- test: {re.escape(marker)} -->\s*```bash\n(.*?)```", text, re.S)
    assert found, f"README.md has no ```bash block after <!-- test: {marker} -->"
    return found.group(1)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s: {what}")


def test_the_readmes_own_relay_commands_accept_models(tmp_path):
    node_commands, relay_commands = readme_block("own-relay node"), readme_block("own-relay")
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("deployment.json", "data.npz", "state.json", "log.txt", "ready",
                                                  "weights", "__pycache__"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DERELAYL_GANACHE", None)  # the user's `ganache` on PATH, not the test chains' in-memory one
    node = subprocess.Popen(["bash", "-c", node_commands], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        rpc = re.search(r"--rpc-url (\S+)", relay_commands).group(1)
        ipfs_port = re.search(r"--ipfs-api /ip4/127\.0\.0\.1/tcp/(\d+)/http", relay_commands).group(1)
        wait_until(lambda: requests.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                                         timeout=2).ok, 120, f"the node's chain at {rpc}")
        wait_until(lambda: requests.post(f"http://127.0.0.1:{ipfs_port}/api/v0/id", timeout=2).ok, 120,
                   "the node's IPFS API")
        relay = subprocess.run(["bash", "-euo", "pipefail", "-c", relay_commands], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=900)
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in (tmp_path / "examples").rglob("log.txt"))
        said = relay.stdout[-3000:] + relay.stderr[-3000:] + logs
        assert relay.returncode == 0, said
        assert "round 2: bidding" in relay.stdout, said
        assert re.search(r"round 1 accepted [1-9]\d* model\(s\)", relay.stdout), said
        layers = int(re.search(r"\d+ models in (\d+) layers", relay.stdout).group(1))
        assert layers == 3, said  # genesis, round 0's layer, round 1's layer
        assert_bidding_closed_soon_after_everyone_joined(tmp_path / "examples" / "relay", said)
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(60)


def assert_bidding_closed_soon_after_everyone_joined(relay: Path, said: str) -> None:
    """Round 0's Bidding closes within seconds of the last bid, offer or stake, not at the
    end of the grace an empty round gets (30 s). Participants started after the deadline
    count the grace from their start; one that had just acted judged the round from the
    view before its own action, and the others' joins did not wake it, so it slept
    through the whole grace. A join now wakes a participant in that wait (JOIN_EVENTS in
    derelayl.participant)."""
    lines = [line for log in relay.glob("*/log.txt") for line in log.read_text().splitlines()]
    clock = {line: sum(int(x) * unit for x, unit in zip(line[:8].split(":"), (3600, 60, 1))) for line in lines}
    start = min(clock[x] for x in lines if " round 0: " in x)

    def seconds(line: str) -> int:  # since round 0's first line (a relay across midnight included)
        return (clock[line] - start) % 86400

    joined = [seconds(x) for x in lines if re.match(r"\d\d:\d\d:\d\d round 0: (bid|offered|staked)", x)]
    closed = [seconds(x) for x in lines if x[9:] == "close_bidding()"]
    assert len(joined) == 5 and closed, said  # 2 bids, 1 offer, 2 stakes
    assert min(closed) - max(joined) < 20, said
