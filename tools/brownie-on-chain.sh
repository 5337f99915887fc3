#!/usr/bin/env bash
# Runs a brownie command (test, run, console) on a local chain that brownie launches on
# a free port and stops afterwards: Ganache (the default) or Anvil, by $CHAIN
# (ganache|anvil; else $DERELAYL_CHAIN). A network entry is added for this run only,
# so two runs never collide and ~/.brownie keeps no leftovers. DERELAYL_CHAIN is set
# to the same chain, so the SDK tests' own LocalChains run on it too.
#   tools/brownie-on-chain.sh test tests/ -x
#   CHAIN=anvil tools/brownie-on-chain.sh run scripts/demo.py
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/bin:$PWD/node_modules/.bin:$PATH"
# This checkout's own solc wrapper (tools/install-solc.sh), not one every checkout shares.
export SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH:-$PWD/.venv/solcx}"
chain="${CHAIN:-${DERELAYL_CHAIN:-ganache}}"
case "$chain" in
    # Ganache with its state in memory (tools/bin/ganache-in-memory: the same node, without
    # a thread switch for every read of the state). Quiet: Ganache logged every request
    # into a pipe that brownie never reads.
    ganache) launcher=("cmd=ganache-in-memory --logging.quiet true" mnemonic=brownie) ;;
    # Anvil's own default mnemonic is the dev mnemonic ("test test ... junk"); it
    # refuses brownie's "brownie", which is not a BIP-39 phrase.
    anvil) launcher=(cmd=anvil chain_id=1337) ;;
    *) echo "CHAIN=$chain: use ganache or anvil" >&2; exit 2 ;;
esac
export DERELAYL_CHAIN="$chain"
# The SDK tests' own LocalChains take the same in-memory Ganache (tests/sdk/test_chains.py
# and the README's relay keep a user's plain `ganache`; test_install's wheel finds it on PATH).
if [ "$chain" = ganache ]; then
    export DERELAYL_GANACHE="${DERELAYL_GANACHE:-$PWD/tools/bin/ganache-in-memory}"
fi
# Node's young generation at 128 MB (V8's default semi-space is 16 MB): Ganache allocates
# short-lived objects for every request, and with room for them its garbage collector
# runs less. The differential test alone, back to back: 149 -> 142 s, its Ganache 108.3 ->
# 103.6 CPU-s (about 5%; 256 MB gave no more).
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--max-semi-space-size=128"
# A free port P with P+1 .. P+15 free too: xdist worker N (make test) launches its chain on P+N.
port=$(.venv/bin/python - <<'PY'
import socket
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
while True:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port + 15 < 65536 and all(free(port + i) for i in range(1, 16)):
        print(port)
        break
PY
)
net="derelayl-run-$port"
# brownie keeps networks in one YAML file: runs side by side (make test) take turns.
lock="${HOME}/.brownie/.derelayl-networks.lock"
mkdir -p "$(dirname "$lock")"
flock "$lock" .venv/bin/brownie networks add Development "$net" "${launcher[@]}" host=http://127.0.0.1 "port=$port" \
    accounts=40 evm_version=shanghai gas_limit=30000000 >/dev/null
trap 'flock "$lock" .venv/bin/brownie networks delete "$net" >/dev/null 2>&1 || true' EXIT
.venv/bin/brownie "$@" --network "$net"
