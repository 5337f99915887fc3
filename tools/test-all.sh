#!/usr/bin/env bash
# Every test (`make test`), its files spread over $TEST_WORKERS xdist workers (3 by
# default), each worker on its own chain ($CHAIN: ganache by default, or anvil;
# tools/brownie-on-chain.sh). The slowest files start first (SLOWEST_FILES in
# tests/conftest.py). Many SDK tests mostly wait for real-time phases (the participant
# tests use a quarter of a core), so 3 workers keep 2 cores busy where 2 left them
# idle a third of the time; docs/testing.md has the profile. The long tests' figures
# (the differential scenarios, the largest round's gas, the stateful coverage) are
# shown at the end, from build/test-report.txt. Extra arguments go to pytest (e.g. -x).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
rm -f build/test-report.txt
# Compile once first: workers that start together on a fresh clone would each compile,
# and one reading build/contracts while another writes it fails.
SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH:-$PWD/.venv/solcx}" .venv/bin/brownie compile >build/compile.log 2>&1 ||
    { cat build/compile.log; exit 1; }
tools/brownie-on-chain.sh test tests/ -n "${TEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder \
    --durations=15 "$@"
status=$?
echo "---- figures of the long tests (build/test-report.txt)"
cat build/test-report.txt 2>/dev/null || true
exit "$status"
