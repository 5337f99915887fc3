"""`derelayl deploy`, `status`, `lineage` and `node` on bad input: one line that names
the file (or option), the field and the problem, a non-zero exit, never a traceback.
And `deploy --allocate`: tokens credited at deployment. What the command does with its
arguments runs in this process (click's CliRunner: the console script's entry point,
its exit code and its output; an exception escaping it fails the test, as a traceback
would show it to the user), since a fresh interpreter per case cost 0.7 CPU-s; what
depends on the user's process (PATH, the working folder, the environment, a task
module imported from a file) runs as the user runs it, in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from derelayl.cli import main
from derelayl.client import RelayClient
from derelayl.deployment import Deployment
from derelayl.localchain import LocalChain, dev_account
from derelayl.params import TOKEN
from derelayl.transactions import connect

UNREACHABLE = "http://127.0.0.1:9"  # a valid input gets past validation and fails here instead
KEY = "0x" + "11" * 32
GOOD_DEPLOYMENT = {"chain_id": 1337, "rpc_url": UNREACHABLE, "relay": "0x" + "ab" * 20, "token": "0x" + "cd" * 20,
                   "block": 3, "genesis_key": ""}


def derelayl(*args: str) -> tuple[int, str]:
    """Runs `derelayl ARGS` in this process, as the console script calls it: (exit code,
    stdout + stderr). Anything but a clean exit (an exception the command let escape:
    the user's traceback) fails the test here."""
    result = CliRunner().invoke(main, list(args), prog_name="derelayl")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        "".join(traceback.format_exception(result.exception)) + result.output)
    return result.exit_code, result.output


def derelayl_process(*args: str) -> tuple[int, str]:
    """Runs `derelayl ARGS` in its own process (`python -m derelayl.cli`): (exit code,
    stdout + stderr)."""
    result = subprocess.run([sys.executable, "-m", "derelayl.cli", *args], capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stdout + result.stderr


def refused(output: str, *words: str) -> bool:
    """One `Error:` line that says every one of `words`, and no traceback."""
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    return "Traceback" not in output and len(errors) == 1 and all(w in errors[0] for w in words)


def deploy_with_params(tmp_path: Path, text: str) -> tuple[int, str, Path]:
    path = tmp_path / "params.json"
    path.write_text(text)
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, "--params", str(path))
    return code, output, path


@pytest.mark.parametrize("text, words", [
    ('{"quorum": "five"}', ["quorum must be an integer", "'five'"]),
    ('{"quorum": 5.5}', ["quorum must be an integer", "5.5"]),
    ('{"evaluator_stake": true}', ["evaluator_stake must be an integer"]),
    ('{"nonsense_key": 1}', ["unknown parameter(s) 'nonsense_key'"]),
    ('[5, 4]', ["expected a JSON object of parameters", "got list"]),
    ('{"quorum": 5, "k": 4,,}', ["not valid JSON", "line 1 column"]),
    ('{"selection_permille": 0}', ["selection_permille = 0 must be 1 to 1000"]),
    ('{"max_trainers": 64, "max_evaluators": 16}', ["max_trainers * max_evaluators = 1024 must be at most 512"]),
    ('{"k": 40}', ["k = 40 must be 1 to max_trainers (32)"]),
    ('{"bidding_duration": -1}', ["bidding_duration = -1 is out of range"]),
    ('{"max_evaluators": 3}', ["quorum = 5 is more than max_evaluators = 3"]),
])
def test_deploy_refuses_bad_params(tmp_path, text, words):
    code, output, path = deploy_with_params(tmp_path, text)
    assert code == 2 and refused(output, "--params", str(path), *words), output


@pytest.mark.parametrize("allocation, words", [
    ("0x1234=5", ["'0x1234' is not an address"]),
    ("0x" + "ab" * 20, ["expected ADDR=AMOUNT"]),
    ("0x" + "ab" * 20 + "=ten", ["amount 'ten' is not a number of DRL"]),
    ("0x" + "ab" * 20 + "=-5", ["must be a positive number of DRL"]),
    ("0x" + "ab" * 20 + "=0", ["must be a positive number of DRL"]),
    ("0x" + "ab" * 20 + "=0.0000000000000000001", ["at most 18 decimals"]),
    ("0x" + "ab" * 20 + "=1e40", ["more than the contract's maximum"]),
    ("0x5B38Da6a701c568545dCfcB03FcB875f56beddc4=1", ["wrong checksum"]),  # last letter's case flipped
])
def test_deploy_refuses_bad_allocations(allocation, words):
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, "--allocate", allocation)
    assert code == 2 and refused(output, "--allocate", *words), output


def test_deploy_refuses_an_address_allocated_twice():
    address = "0x" + "ab" * 20
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY,
                            "--allocate", f"{address}=1", "--allocate", f"{address.upper().replace('0X', '0x')}=2")
    assert code == 2 and refused(output, "--allocate", "allocated twice"), output


def test_deploy_refuses_a_malformed_private_key():
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", "0xnotakey")
    assert code == 2 and refused(output, "--private-key", "64 hex digits"), output
    assert "0xnotakey" not in output  # a key is never echoed


@pytest.mark.parametrize("command", ["status", "lineage"])
@pytest.mark.parametrize("content, words", [
    ('{"chain_id": 1337, "relay": ', ["not valid JSON"]),
    ("", ["not valid JSON"]),
    ('["0xabc"]', ["expected a JSON object", "got a JSON array"]),
    (json.dumps({k: v for k, v in GOOD_DEPLOYMENT.items() if k != "relay"}), ["field 'relay' is missing"]),
    (json.dumps({**GOOD_DEPLOYMENT, "chain_id": "1337"}), ["field 'chain_id' must be an integer"]),
    (json.dumps({**GOOD_DEPLOYMENT, "token": "0x12"}), ["field 'token' must be an address"]),
    (json.dumps({**GOOD_DEPLOYMENT, "block": -1}), ["field 'block' must be at least 0"]),
    (json.dumps({**GOOD_DEPLOYMENT, "genesis_key": "ab"}), ["field 'genesis_key' must be 64 hex digits"]),
    (json.dumps({**GOOD_DEPLOYMENT, "extra": 1}), ["unknown field(s) 'extra'"]),
    (json.dumps({**GOOD_DEPLOYMENT, "relay": "0x5B38Da6a701c568545dCfcB03FcB875f56beddc4"}),
     ["field 'relay' has a wrong EIP-55 checksum"]),
])
def test_status_and_lineage_refuse_a_bad_deployment_file(tmp_path, command, content, words):
    path = tmp_path / "deployment.json"
    path.write_text(content)
    code, output = derelayl(command, "--deployment", str(path))
    assert code == 1 and refused(output, str(path), *words), output


def test_a_valid_deployment_file_gets_as_far_as_the_chain(tmp_path):
    """The validation above is not what stops every file: a good one reaches the RPC URL."""
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(GOOD_DEPLOYMENT))
    code, output = derelayl("status", "--deployment", str(path))
    assert code == 1 and refused(output, "no JSON-RPC endpoint answers at " + UNREACHABLE), output


@pytest.fixture(scope="module")
def local_chain():
    with LocalChain() as local:
        yield local


def test_deploy_allocates_tokens_at_deployment(tmp_path, local_chain):
    """`--allocate ADDR=AMOUNT` (DRL, decimals allowed, any address case) credits each
    holder at deployment, so an evaluator can stake at once."""
    evaluator, trainer = dev_account(7).address, dev_account(8).address
    out = tmp_path / "d.json"
    key = "0x" + dev_account(2).key.hex().removeprefix("0x")
    code, output = derelayl("deploy", "--rpc-url", local_chain.url, "--private-key", key, "--out", str(out),
                            "--allocate", f"{evaluator}=10", "--allocate", f"{trainer.lower()}=2.5")
    assert code == 0, output
    assert f"allocated     {evaluator}  10 DRL" in output and f"{trainer}  2.5 DRL" in output
    client = RelayClient(connect(local_chain.url), Deployment.load(out))
    assert client.credit_of(evaluator) == 10 * TOKEN and client.credit_of(trainer) == 5 * TOKEN // 2
    assert client.credit_of(dev_account(9).address) == 0


def test_deploy_merge_horizon_deploys_a_merge_relay_that_accepts_every_ranked_model(tmp_path, local_chain):
    """`--merge-horizon H` deploys MergeRelayLearning with that horizon, records it in
    the deployment file, and accepts every ranked model above the floor unless the
    params file names another selection."""
    key = "0x" + dev_account(3).key.hex().removeprefix("0x")
    out = tmp_path / "d.json"
    code, output = derelayl("deploy", "--rpc-url", local_chain.url, "--private-key", key, "--out", str(out),
                            "--merge-horizon", "10")
    assert code == 0 and "MergeRelayLearning" in output and "lineage horizon 10 layers" in output, output
    deployment = Deployment.load(out)
    client = RelayClient(connect(local_chain.url), deployment)
    assert deployment.merge_horizon == 10 and client.relay.functions.mergeHorizon().call() == 10
    assert client.params().selection_permille == 1000
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"selection_permille": 750}))
    code, output = derelayl("deploy", "--rpc-url", local_chain.url, "--private-key", key, "--out", str(out),
                            "--merge-horizon", "3", "--params", str(params))
    assert code == 0, output
    assert RelayClient(connect(local_chain.url), Deployment.load(out)).params().selection_permille == 750
    code, output = derelayl("deploy", "--rpc-url", local_chain.url, "--private-key", key, "--merge-horizon", "-1")
    assert code != 0 and "--merge-horizon" in output, output


def test_status_names_a_chain_without_the_contract(tmp_path, local_chain):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({**GOOD_DEPLOYMENT, "rpc_url": local_chain.url}))
    code, output = derelayl("lineage", "--deployment", str(path))
    assert code == 1 and refused(output, str(path), "no contract at relay", "is this the chain"), output


def outside_env(**extra: str) -> dict[str, str]:
    """An environment whose PATH has this Python and the system folders, not node_modules."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), **extra}


def run_outside(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """`derelayl ARGS` from a folder outside the checkout, with `env` only."""
    result = subprocess.run([sys.executable, "-m", "derelayl.cli", *args], capture_output=True, text=True,
                            timeout=180, cwd=tmp_path, env=env)
    return result.returncode, result.stdout + result.stderr


def test_a_missing_ganache_says_how_to_install_it(tmp_path):
    code, output = run_outside(tmp_path, outside_env(), "deploy", "--no-serve")
    assert code == 1 and refused(output, "Ganache not found on PATH or in $DERELAYL_GANACHE",
                                 "npm install -g ganache@7.9.2"), output
    code, output = run_outside(tmp_path, outside_env(DERELAYL_GANACHE=str(tmp_path / "nothing")), "deploy")
    assert code == 1 and refused(output, "$DERELAYL_GANACHE", "is not an executable file"), output


def test_configured_ganache_is_used_and_a_missing_jsipfs_says_how_to_install_it(tmp_path):
    """$DERELAYL_GANACHE is honoured (deploy works from outside the checkout), and
    `derelayl node` without js-ipfs names the install command (its Ganache stopped)."""
    ganache = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "ganache"
    env = outside_env(DERELAYL_GANACHE=str(ganache))
    code, output = run_outside(tmp_path, env, "deploy", "--no-serve", "--out", str(tmp_path / "d.json"))
    assert code == 0, output
    assert Deployment.load(tmp_path / "d.json").chain_id == 1337
    code, output = run_outside(tmp_path, env, "node")
    assert code == 1 and refused(output, "js-ipfs not found on PATH or in $DERELAYL_JSIPFS",
                                 "npm install -g ipfs@0.66.1"), output


def test_deploy_refuses_phases_shorter_than_a_public_chain_needs_without_the_flag(tmp_path):
    """Class 1 (issue 17): zero durations let anyone close a phase at once. `deploy`
    names each short phase and refuses, unless --allow-short-durations accepts the risk
    (then it warns and goes on: here to the unreachable chain)."""
    path = tmp_path / "params.json"
    path.write_text('{"bidding_duration": 0, "commit_duration": 30}')
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, "--params", str(path))
    assert code != 0 and refused(output, "bidding_duration = 0 s, commit_duration = 30 s", "300 s, 600 s",
                                 "--allow-short-durations"), output
    code, output = derelayl("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, "--params", str(path),
                            "--allow-short-durations")
    assert code != 0 and "warning: bidding_duration = 0 s" in output and refused(output, UNREACHABLE), output


def test_a_missing_anvil_says_how_to_install_it_and_a_configured_one_is_used(tmp_path):
    """The same for Anvil: `--chain anvil` (or $DERELAYL_CHAIN=anvil) without it names
    the install command; $DERELAYL_ANVIL is honoured (deploy works from outside the
    checkout, on chain id 1337), and `derelayl node --chain anvil` gets as far as IPFS."""
    code, output = run_outside(tmp_path, outside_env(), "node", "--chain", "anvil")
    assert code == 1 and refused(output, "Anvil not found on PATH or in $DERELAYL_ANVIL",
                                 "npm install -g @foundry-rs/anvil@1.7.1"), output
    code, output = run_outside(tmp_path, outside_env(DERELAYL_CHAIN="anvil"), "deploy", "--no-serve")
    assert code == 1 and refused(output, "Anvil not found on PATH or in $DERELAYL_ANVIL"), output
    anvil = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"
    env = outside_env(DERELAYL_ANVIL=str(anvil), DERELAYL_CHAIN="anvil")
    code, output = run_outside(tmp_path, env, "deploy", "--no-serve", "--out", str(tmp_path / "d.json"))
    assert code == 0, output
    assert Deployment.load(tmp_path / "d.json").chain_id == 1337
    code, output = run_outside(tmp_path, env, "node", "--chain", "anvil", "--port", "0")
    assert code == 1 and refused(output, "js-ipfs not found on PATH or in $DERELAYL_JSIPFS"), output


def test_deploy_warns_when_the_task_sets_no_score_floor(tmp_path):
    """Class 6 (issue 17): without a floor above chance, models no better than chance can
    be accepted while their parent is the genesis (score 0 on chain). `deploy` says so
    for a task that leaves `score_floor` at 0, and not for one that sets it."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    path = tmp_path / "no_floor.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(examples)!r})\nfrom iris_task import IrisTask\n\n\n"
                    "class NoFloor(IrisTask):\n    score_floor = 0.0\n\n\ntask = NoFloor()\n")
    ipfs = ("--ipfs-api", "/ip4/127.0.0.1/tcp/9/http")  # never reached: the chain is refused first
    code, output = derelayl_process("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, *ipfs,
                                    "--task", f"{path}:task")
    assert code != 0 and "warning: task iris-mlp sets no score_floor" in output and refused(output, UNREACHABLE), output
    code, output = derelayl_process("deploy", "--rpc-url", UNREACHABLE, "--private-key", KEY, *ipfs, "--task",
                                    f"{examples / 'iris_task.py'}:task")
    assert code != 0 and "score_floor" not in output and refused(output, UNREACHABLE), output
