"""Fast start: `import derelayl` is lazy, and `derelayl --help`, `status` and `lineage`
never import torch (a real deployment on a real Ganache, each command in a fresh
Python process that reports afterwards which heavy modules it loaded)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from derelayl.deploying import deploy
from derelayl.localchain import LocalChain, dev_account
from derelayl.transactions import connect

REPORT = "import sys; print('LOADED', sorted(m for m in ('torch', 'web3', 'sklearn') if m in sys.modules))"
CLI = ("import sys\nfrom derelayl.cli import main\ntry:\n    main(sys.argv[1:], prog_name='derelayl')\n"
       f"finally:\n    {REPORT}")


def loaded_by(code: str, *args: str) -> tuple[int, str, list[str]]:
    """Runs `code` in a fresh interpreter: (exit code, output, heavy modules it loaded)."""
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    report = [line for line in result.stdout.splitlines() if line.startswith("LOADED")]
    assert report, result.stdout + result.stderr
    return result.returncode, result.stdout + result.stderr, eval(report[-1].removeprefix("LOADED "))


def test_import_derelayl_is_lazy():
    assert loaded_by(f"import derelayl\n{REPORT}")[2] == []
    assert loaded_by(f"from derelayl import RelayProtocol, ProtocolParams, ConfigurationError\n{REPORT}")[2] == []
    assert "torch" in loaded_by(f"from derelayl import Task\n{REPORT}")[2]  # the report can tell


def test_help_does_not_import_torch():
    code, output, loaded = loaded_by(CLI, "--help")
    assert code == 0 and "deploy" in output and "lineage" in output
    assert loaded == []


@pytest.fixture(scope="module")
def deployment_file(tmp_path_factory):
    with LocalChain() as local:
        w3 = connect(local.url)
        path = deploy(w3, dev_account(0), allocations={dev_account(1).address: 10**18}).save(
            tmp_path_factory.mktemp("startup") / "deployment.json")
        yield path


@pytest.mark.parametrize("command", ["status", "lineage"])
def test_status_and_lineage_do_not_import_torch(deployment_file, command):
    code, output, loaded = loaded_by(CLI, command, "--deployment", str(deployment_file))
    assert code == 0, output
    assert ("round 0: bidding" in output) if command == "status" else ("1 models in 1 layers" in output)
    assert "torch" not in loaded
