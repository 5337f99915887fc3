#!/usr/bin/env bash
# Installs the solc executable that py-solc-x and brownie look for in
# $SOLCX_BINARY_PATH (this checkout's .venv/solcx, which the Makefile and
# tools/brownie-on-chain.sh export): solc-v0.8.28, a wrapper around tools/solc-shim.cjs,
# which runs the npm solcjs. Native solc cannot be downloaded offline; see
# docs/toolchain.md. Each checkout has its own wrapper, so checkouts never re-point or
# break each other's. Idempotent: rewrites the wrapper only when it would change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="0.8.28"
target="${SOLCX_BINARY_PATH:-$root/.venv/solcx}/solc-v$version"
wanted="#!/bin/sh
exec node \"$root/tools/solc-shim.cjs\" \"\$@\""
if [ ! -x "$target" ] || [ "$(cat "$target")" != "$wanted" ]; then
    mkdir -p "$(dirname "$target")"
    printf '%s\n' "$wanted" > "$target"
    chmod +x "$target"
    echo "installed $target"
fi
"$target" --version | grep -q "Version: $version" || { echo "solc shim at $target does not answer --version" >&2; exit 1; }
