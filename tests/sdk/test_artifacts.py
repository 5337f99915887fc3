"""The contract artifacts shipped in the package equal the compile of contracts/ that
every brownie test of this run deploys (so they can never go stale), `make artifacts`
writes them byte for byte, and the SDK deploys from them alone."""

import importlib.util
import json
from pathlib import Path

import pytest

from derelayl.artifacts import CONTRACTS, load_contracts

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sdk" / "derelayl" / "artifacts"
BROWNIE_BUILD = ROOT / "build" / "contracts"  # compiled by this run (brownie recompiles changed sources)


def build_tool():
    """tools/build_artifacts.py (`make artifacts`), loaded as a module."""
    spec = importlib.util.spec_from_file_location("build_artifacts", ROOT / "tools" / "build_artifacts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh():
    """The build tool and its fresh compile of RelayToken (2 s through solcjs; the
    three contracts take 15 s on two cores, and brownie has compiled them already)."""
    tool = build_tool()
    return tool, tool.build(("contracts/RelayToken.sol",))


def test_shipped_artifacts_equal_the_contracts_brownie_tests(fresh):
    """Each shipped artifact holds the bytecode and ABI of brownie's compile of today's
    contracts/ (the code the unit, stateful and differential tests run), the hash of
    today's sources and the compiler settings of brownie-config.yaml."""
    tool, _ = fresh
    sources = {path: (ROOT / path).read_text() for path in tool.source_tree()}
    settings = tool.solc_settings(tool.compiler_settings())
    for name in CONTRACTS:
        shipped = json.loads((SHIPPED / f"{name}.json").read_text())
        tested = json.loads((BROWNIE_BUILD / f"{name}.json").read_text())
        stale = f"{name}: stale contract artifact: run `make artifacts` and commit it"
        assert shipped["bytecode"] == "0x" + tested["bytecode"] and shipped["abi"] == tested["abi"], stale
        assert shipped["sourceHash"] == tool.source_hash(sources) and shipped["sources"] == sorted(sources), stale
        assert shipped["compiler"]["version"] == tested["compiler"]["version"], stale
        assert shipped["compiler"]["settings"] == settings


def test_make_artifacts_writes_the_shipped_file_byte_for_byte(fresh):
    """The tool's own compile (py-solc-x with brownie-config.yaml's settings) of
    RelayToken renders exactly the shipped file and passes its check."""
    tool, records = fresh
    assert tool.check(records, SHIPPED) == [], "stale contract artifacts: run `make artifacts` and commit them"
    assert (SHIPPED / "RelayToken.json").read_text() == tool.render(records["RelayToken"])


def test_the_check_names_a_stale_or_missing_artifact(fresh, tmp_path):
    """A copy with one changed byte of bytecode, and a folder without the file, are refused."""
    tool, records = fresh
    stale = json.loads((SHIPPED / "RelayToken.json").read_text())
    stale["bytecode"] = stale["bytecode"][:-2] + ("01" if stale["bytecode"].endswith("00") else "00")
    (tmp_path / "RelayToken.json").write_text(json.dumps(stale))
    assert tool.check(records, tmp_path) == [
        f"{tmp_path / 'RelayToken.json'}: bytecode differ from a fresh compile of contracts/"]
    (tmp_path / "RelayToken.json").unlink()
    assert tool.check(records, tmp_path) == [f"{tmp_path / 'RelayToken.json'}: missing"]


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
