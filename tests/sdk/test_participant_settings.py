"""`derelayl participant` refuses every bad settings file, data file or deployment with
one line that names the file, the field and the problem: a non-zero exit, no
traceback, and no silent wait."""

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from derelayl.cli import main


def run(folder) -> tuple[int, str]:
    started = time.time()
    result = CliRunner().invoke(main, ["participant", "--state-dir", str(folder)])
    assert time.time() - started < 30, "waited instead of saying what is wrong"
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def folder_with(tmp_path, settings, data=True):
    folder = tmp_path / "p"
    folder.mkdir(exist_ok=True)
    (folder / "participant.json").write_text(settings if isinstance(settings, str) else json.dumps(settings))
    if data:
        np.savez(folder / "data.npz", features=np.zeros((4, 13), np.float32), labels=np.zeros(4, np.int64))
    return folder


GOOD = {"role": "trainer", "deployment": "deployment.json", "ipfs_api": "/ip4/127.0.0.1/tcp/9/http",
        "account_index": 1}


@pytest.mark.parametrize("settings, message", [
    ("{", "participant.json: not valid JSON"),
    ("[1, 2]", "participant.json: expected a JSON object of settings, got list"),
    ({}, "participant.json: field 'role' is missing"),
    ({**GOOD, "role": "miner"}, "field 'role' must be \"trainer\" or \"evaluator\", not \"miner\""),
    ({**GOOD, "rounds": "three"}, "field 'rounds' must be int, not \"three\""),
    ({**GOOD, "rounds": 0}, "field 'rounds' must be at least 1, not 0"),
    ({**GOOD, "account_index": True}, "field 'account_index' must be int, not true"),
    ({**GOOD, "modle": "mlp"}, "unknown field 'modle'"),
    ({**GOOD, "merge": "average"}, "field 'merge' must be one of mean, median, trimmed, clipped, not \"average\""),
    ({k: v for k, v in GOOD.items() if k != "account_index"}, "set 'account_index' (a dev-chain account) or "
                                                              "$DERELAYL_PRIVATE_KEY"),
    ({**GOOD, "data": "nosuch.npz"}, "field 'data': no file"),
    ({**GOOD, "task": "nosuch.py:task"}, "cannot load task: no file"),
    (GOOD, "no deployment file at"),
])
def test_a_bad_settings_file_gets_one_line_naming_the_problem(tmp_path, settings, message):
    code, output = run(folder_with(tmp_path, settings))
    assert code != 0 and message in output, output
    assert len(output.strip().splitlines()) == 1, output


def test_a_missing_settings_file_is_named(tmp_path):
    code, output = run(tmp_path / "empty")
    assert code != 0 and "participant.json is missing" in output, output


def test_a_malformed_deployment_file_is_named(tmp_path):
    folder = folder_with(tmp_path, GOOD)
    (folder / "deployment.json").write_text('{"chain_id": 1337,')
    code, output = run(folder)
    assert code != 0 and "deployment.json" in output, output


DEAD_CHAIN = {"chain_id": 1337, "rpc_url": "http://127.0.0.1:9", "relay": "0x" + "11" * 20,
              "token": "0x" + "22" * 20, "block": 1}


def test_an_unreachable_ipfs_api_is_named(tmp_path):
    folder = folder_with(tmp_path, GOOD)
    (folder / "deployment.json").write_text(json.dumps(DEAD_CHAIN))
    code, output = run(folder)
    assert code != 0 and "no IPFS API answers at /ip4/127.0.0.1/tcp/9/http" in output, output


def test_an_unreachable_chain_is_named(tmp_path, ipfs_node):
    folder = folder_with(tmp_path, {**GOOD, "ipfs_api": ipfs_node.api})
    (folder / "deployment.json").write_text(json.dumps(DEAD_CHAIN))
    code, output = run(folder)
    assert code != 0 and "no JSON-RPC endpoint answers at http://127.0.0.1:9" in output, output
