"""The wheel, installed with its declared dependencies into a fresh virtualenv outside
the checkout, works on its own: from a folder outside the checkout, with only Ganache
and js-ipfs on PATH (the checkout's node_modules/.bin, as a user's global npm install
would put them; or Anvil, with $DERELAYL_CHAIN), `derelayl --help`, `deploy` on a local
chain it starts, a short real relay of the tabular task (`derelayl demo --task wine`)
with accepted models each round, and `simulate` with its figures.

Slow (the install takes about two minutes): one module-scoped virtualenv serves every
test here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Installed:
    """A virtualenv holding the built wheel, and a way to run its `derelayl`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin = home / "venv" / "bin"
        self.work = home / "work"  # the working directory: outside the checkout
        self.work.mkdir()
        self.env = {"PATH": f"{self.bin}:{ROOT / 'node_modules' / '.bin'}:/usr/local/bin:/usr/bin:/bin",
                    "HOME": os.environ.get("HOME", str(home)), "LANG": "C.UTF-8"}
        if os.environ.get("DERELAYL_CHAIN"):  # the chain of this run (make test CHAIN=anvil)
            self.env["DERELAYL_CHAIN"] = os.environ["DERELAYL_CHAIN"]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`derelayl ARGS` from the venv, in the outside working directory."""
        return subprocess.run([str(self.bin / "derelayl"), *args], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    home = tmp_path_factory.mktemp("wheel-install")
    assert ROOT not in home.parents  # outside the checkout
    # Built from a copy of the package's sources, so that no stale build/ folder of the
    # checkout can slip files into the wheel.
    source = home / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "sdk", source / "sdk", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = home / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), "."], cwd=source, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(wheels.glob("derelayl-*.whl"))
    venv.EnvBuilder(with_pip=True, clear=True).create(home / "venv")
    # --no-compile: pip byte-compiled every module of every dependency (torch's
    # thousands), half the install's 41 CPU seconds; one import below compiles what the
    # CLI and a participant use, before the demo starts several participants at once.
    done = subprocess.run([str(home / "venv" / "bin" / "pip"), "install", "-q", "--no-compile", str(wheel)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = Installed(home)
    warm = subprocess.run([str(installed.bin / "python"), "-c", "import derelayl.cli, derelayl.demo, derelayl.participant"],
                          cwd=installed.work, env=installed.env, capture_output=True, text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr[-3000:]
    return installed


def test_the_wheel_is_what_runs(installed):
    """The package imported is the installed one, with its artifacts and polyfill, and
    no developer tool (brownie, solcx, yaml) came with it; coincurve did, so that
    participants sign in libsecp256k1."""
    code = ("import derelayl, importlib.util as u; from derelayl.artifacts import load_contracts; "
            "from importlib import resources as r; print(derelayl.__file__); print(sorted(load_contracts())); "
            "print((r.files('derelayl') / 'promise-with-resolvers.cjs').is_file()); "
            "print([m for m in ('brownie', 'solcx', 'yaml') if u.find_spec(m)]); "
            "from eth_keys import KeyAPI; print(type(KeyAPI().backend).__name__)")
    result = subprocess.run([str(installed.bin / "python"), "-c", code], cwd=installed.work, env=installed.env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    where, contracts, polyfill, dev_tools, signer = result.stdout.splitlines()
    assert where.startswith(str(installed.home / "venv")) and "site-packages" in where
    assert contracts == "['MergeRelayLearning', 'RelayLearning', 'RelayToken']" and polyfill == "True" and dev_tools == "[]"
    assert signer == "CoinCurveECCBackend"  # transactions signed by libsecp256k1, not in pure Python


def test_help(installed):
    result = installed.run("--help", timeout=60)
    assert result.returncode == 0 and "deploy" in result.stdout and "Traceback" not in result.stderr


def test_deploy_on_a_local_chain_it_starts(installed):
    out = installed.work / "deployment.json"
    result = installed.run("deploy", "--no-serve", "--out", str(out),
                           "--allocate", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8=10")
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(out.read_text())
    assert record["chain_id"] == 1337 and record["rpc_url"].startswith("http://127.0.0.1:")
    assert record["relay"].startswith("0x") and len(record["relay"]) == 42 and record["block"] > 0
    assert "allocated     0x70997970C51812dc3A010C7d01b50e0d17dc79C8  10 DRL" in result.stdout


RELAY_TASK, RELAY_EPOCHS = "wine", 20  # the tabular built-in task (3 classes, balanced accuracy)


def play_relay(installed: Installed, out: Path) -> dict:
    """A short real relay of the tabular task from the installed CLI; its JSON record.
    (Kept apart so that the relay can switch to another task without touching the test.)"""
    result = installed.run("demo", "--task", RELAY_TASK, "--rounds", "2", "--trainers", "4", "--evaluators", "2",
                           "--epochs", str(RELAY_EPOCHS), "--out", str(out), "--json", str(out / "run.json"),
                           timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((out / "run.json").read_text())


def test_a_short_relay_accepts_models_every_round(installed):
    """The wheel's relay of the tabular task (the suite's only plain relay of a built-in
    task: test_relays.py plays a merge relay of digits): each round accepts models,
    the best accepted model beats the genesis on the held-out set by 0.3 in balanced
    accuracy, and the demo's plots are drawn (matplotlib came with the wheel)."""
    out = installed.work / "demo"
    record = play_relay(installed, out)
    assert record["task"] == RELAY_TASK
    rounds = record["rounds"]
    assert len(rounds) == 2
    assert all(len(r["accepted"]) >= 1 for r in rounds), [len(r["accepted"]) for r in rounds]
    genesis = record["reference"]["genesis"]
    best = rounds[-1]["best_holdout_accuracy"]
    assert best is not None and best > genesis + 0.3, (genesis, best)
    for name in ("accuracy.png", "balances.png", "lineage.png"):
        assert (out / name).stat().st_size > 10_000


def test_simulate_writes_its_figures(installed):
    out = installed.work / "simulation"
    result = installed.run("simulate", "--participants", "16", "--rounds", "40", "--active", "8",
                           "--version-rounds", "20", "--out", str(out), "--json", str(out / "run.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(out.glob("*.png"))) >= 2 and json.loads((out / "run.json").read_text())
