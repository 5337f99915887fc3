#!/usr/bin/env bash
# Every test (`make test`), in two groups side by side, each on its own Ganache: the
# differential test (contracts vs derelayl.protocol, 200 random scenarios, about 8
# minutes, mostly Ganache time) and everything else. On 2 cores this halves the wall
# time. Extra arguments go to both groups (e.g. -x).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
log=build/test-differential.log
tools/brownie-on-ganache.sh test tests/integration/test_differential.py -s "$@" >"$log" 2>&1 &
differential=$!
tools/brownie-on-ganache.sh test tests/ --ignore=tests/integration/test_differential.py "$@"
main=$?
wait "$differential"
differential_status=$?
echo "---- differential test (contracts vs derelayl.protocol); whole log in $log"
tail -n 4 "$log"
if [ "$main" -ne 0 ] || [ "$differential_status" -ne 0 ]; then
    [ "$differential_status" -ne 0 ] && tail -n 60 "$log"
    echo "FAILED: main group exit $main, differential test exit $differential_status"
    exit 1
fi
