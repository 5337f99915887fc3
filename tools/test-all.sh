#!/usr/bin/env bash
# Every test (`make test`), in two groups side by side, each on its own chain ($CHAIN:
# ganache by default, or anvil; tools/brownie-on-chain.sh): the long tests (the
# differential test, contracts vs derelayl.protocol in 100 random scenarios, about 5
# minutes; the largest-round gas test, about 2; the stateful walks, about 3; the
# 12-round scenario, about 1; the wheel installed in a fresh virtualenv and relaying the
# tabular task, about 3; relays of digits and wine, about 3) and everything else.
# On 2 cores this nearly halves the wall time. Extra arguments go to both groups
# (e.g. -x).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
log=build/test-long.log
long=(tests/integration/test_differential.py tests/unitary/RelayLearning/test_limits.py tests/stateful
      tests/integration/test_relay_scenario.py tests/sdk/test_install.py tests/sdk/test_relays.py)
tools/brownie-on-chain.sh test "${long[@]}" -s "$@" >"$log" 2>&1 &
differential=$!
tools/brownie-on-chain.sh test tests/ "${long[@]/#/--ignore=}" "$@"
main=$?
wait "$differential"
differential_status=$?
echo "---- long group (differential, largest-round, stateful, 12-round, wheel-install and relay tests); whole log in $log"
grep -E "scenarios:|largest-round gas|stateful coverage" "$log" || true
tail -n 2 "$log"
if [ "$main" -ne 0 ] || [ "$differential_status" -ne 0 ]; then
    [ "$differential_status" -ne 0 ] && tail -n 60 "$log"
    echo "FAILED: main group exit $main, differential test exit $differential_status"
    exit 1
fi
