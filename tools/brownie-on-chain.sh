#!/usr/bin/env bash
# Runs a brownie command (test, run, console) on a Ganache that brownie launches on a
# free port and stops afterwards. A network entry is added for this run only, so two
# runs never collide and ~/.brownie keeps no leftovers.
#   tools/brownie-on-ganache.sh test tests/ -x
#   tools/brownie-on-ganache.sh run scripts/demo.py
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
net="derelayl-run-$port"
# brownie keeps networks in one YAML file: runs side by side (make test) take turns.
lock="${HOME}/.brownie/.derelayl-networks.lock"
mkdir -p "$(dirname "$lock")"
flock "$lock" .venv/bin/brownie networks add Development "$net" cmd=ganache host=http://127.0.0.1 "port=$port" \
    accounts=40 evm_version=shanghai mnemonic=brownie gas_limit=30000000 >/dev/null
trap 'flock "$lock" .venv/bin/brownie networks delete "$net" >/dev/null 2>&1 || true' EXIT
.venv/bin/brownie "$@" --network "$net"
