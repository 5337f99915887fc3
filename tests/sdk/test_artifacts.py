"""The contract artifacts shipped in the package equal a fresh compile of contracts/
(so they can never go stale), and the SDK deploys from them alone."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from derelayl.artifacts import CONTRACTS, load_contracts

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sdk" / "derelayl" / "artifacts"


def build_tool():
    """tools/build_artifacts.py (`make artifacts`), loaded as a module."""
    spec = importlib.util.spec_from_file_location("build_artifacts", ROOT / "tools" / "build_artifacts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh():
    """The build tool and a fresh compile of contracts/ (about a minute through solcjs)."""
    tool = build_tool()
    return tool, tool.build()


def test_shipped_artifacts_equal_a_fresh_compile(fresh):
    tool, records = fresh
    assert tool.check(records, SHIPPED) == [], "stale contract artifacts: run `make artifacts` and commit them"
    for name in CONTRACTS:  # byte for byte, as `make artifacts` writes them
        assert (SHIPPED / f"{name}.json").read_text() == tool.render(records[name])


def test_the_check_names_a_stale_or_missing_artifact(fresh, tmp_path):
    """A copy with one changed byte of bytecode, and one without its file, are refused."""
    tool, records = fresh
    for name in CONTRACTS:
        shutil.copy(SHIPPED / f"{name}.json", tmp_path / f"{name}.json")
    stale = json.loads((tmp_path / "RelayToken.json").read_text())
    stale["bytecode"] = stale["bytecode"][:-2] + ("01" if stale["bytecode"].endswith("00") else "00")
    (tmp_path / "RelayToken.json").write_text(json.dumps(stale))
    (tmp_path / "RelayLearning.json").unlink()
    assert tool.check(records, tmp_path) == [
        f"{tmp_path / 'RelayLearning.json'}: missing",
        f"{tmp_path / 'RelayToken.json'}: bytecode differ from a fresh compile of contracts/",
    ]


def test_artifacts_record_how_they_were_made():
    for name, contract in load_contracts().items():
        assert contract.name == name and contract.bytecode.startswith("0x") and len(contract.bytecode) > 1000
        assert contract.compiler["version"].startswith("0.8.28+commit")
        assert contract.compiler["settings"]["evmVersion"] == "shanghai"
        assert contract.source_hash.startswith("sha256:")
        assert any(item.get("type") == "error" for item in contract.abi)


def test_runtime_code_never_compiles():
    """Nothing the package runs imports brownie, yaml or solcx: only tools/ does."""
    offenders = [f"{path.relative_to(ROOT)}: {line.strip()}"
                 for path in (ROOT / "sdk" / "derelayl").rglob("*.py")
                 for line in path.read_text().splitlines()
                 if line.strip().startswith(("import ", "from "))
                 and line.split()[1].split(".")[0] in {"brownie", "yaml", "solcx"}]
    assert offenders == []
