#!/usr/bin/env bash
# The old name of tools/brownie-on-chain.sh, kept for old callers: the same on Ganache.
CHAIN=ganache exec "$(dirname "$0")/brownie-on-chain.sh" "$@"
