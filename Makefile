# DeRelayL: every target installs what is missing first (idempotent).
#   make demo   install, then run the multi-process relay on digits (Ganache + IPFS it starts;
#               CHAIN=anvil: on an Anvil)
#   make test   install, then run every test (brownie on a Ganache it starts;
#               CHAIN=anvil: on an Anvil, the SDK's own local chains too)
#   make gas    install, then run the gas benchmark
#   make fuzz   long randomized runs (stateful walks, differential scenarios)
#   make artifacts  recompile contracts/ into the SDK's shipped artifacts (commit them)
#   make simulate, bench-turn, bench-store, bench-efficacy, bench-attacks, bench-startup, analyze: see README
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BROWNIE_NETWORK := derelayl-ganache
# The chain brownie launches and the SDK's LocalChain starts (make demo, make test):
# ganache (default) or anvil.
CHAIN ?= $(or $(DERELAYL_CHAIN),ganache)
export CHAIN
export DERELAYL_CHAIN := $(CHAIN)
# Where py-solc-x and brownie find solc: this checkout's wrapper (tools/install-solc.sh).
export SOLCX_BINARY_PATH ?= $(CURDIR)/.venv/solcx

.PHONY: setup demo demo-scripted test fuzz analyze gas gas-snapshot gas-writes bench-store bench-turn bench-efficacy bench-attacks bench-startup bench-scale simulate compile artifacts clean

setup: $(VENV)/.installed node_modules/.installed
	@tools/install-solc.sh
	@$(VENV)/bin/brownie networks list 2>/dev/null | grep -q "$(BROWNIE_NETWORK)" || \
	  $(VENV)/bin/brownie networks add Development $(BROWNIE_NETWORK) cmd=ganache host=http://127.0.0.1 \
	    port=8545 accounts=40 evm_version=shanghai mnemonic=brownie gas_limit=30000000 >/dev/null
	@echo "setup complete"

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

compile: setup
	$(VENV)/bin/brownie compile --size

# The compiled contracts shipped in the package (sdk/derelayl/artifacts/*.json), from
# contracts/ with brownie-config.yaml's compiler settings. Commit them after a change
# to contracts/: tests/sdk/test_artifacts.py fails while they are stale.
artifacts: setup
	$(VENV)/bin/python tools/build_artifacts.py

demo: setup
	$(VENV)/bin/derelayl demo --out demo-output --json demo-output/run.json

demo-scripted: setup
	tools/brownie-on-chain.sh run scripts/demo.py

test: setup
	tools/test-all.sh

# Long randomized runs, side by side on their own Ganaches: 20 walks x 250 steps
# (5,000 steps) from fresh seeds, and 1,000 differential scenarios of the plain relay
# and 300 of the merge relay (their log: build/fuzz-differential.log).
# DERELAYL_FUZZ_* and DERELAYL_DIFF_* override.
fuzz: setup
	@mkdir -p build
	DERELAYL_DIFF_SCENARIOS=$${DERELAYL_DIFF_SCENARIOS:-1000} DERELAYL_DIFF_SEED=$${DERELAYL_DIFF_SEED:-$$RANDOM} \
	  DERELAYL_DIFF_MERGE_SCENARIOS=$${DERELAYL_DIFF_MERGE_SCENARIOS:-300} \
	  tools/brownie-on-chain.sh test tests/integration/test_differential.py tests/integration/test_differential_merge.py \
	  -s > build/fuzz-differential.log 2>&1 & \
	differential=$$!; \
	DERELAYL_FUZZ_EXAMPLES=$${DERELAYL_FUZZ_EXAMPLES:-20} DERELAYL_FUZZ_STEPS=$${DERELAYL_FUZZ_STEPS:-250} \
	  DERELAYL_FUZZ_RANDOM=1 tools/brownie-on-chain.sh test tests/stateful -s; walks=$$?; \
	wait $$differential; status=$$?; \
	grep -E "scenarios:|passed|failed" build/fuzz-differential.log; \
	[ $$walks -eq 0 ] && [ $$status -eq 0 ] || { tail -n 60 build/fuzz-differential.log; exit 1; }

# Static analysis with Slither (PyPI), in its own venv, on brownie's build artifacts.
analyze: compile
	@test -x .venv-analysis/bin/slither || ($(PYTHON) -m venv .venv-analysis && \
	  .venv-analysis/bin/pip install --quiet slither-analyzer==0.11.6)
	PATH="$$PWD/.venv/bin:$$PATH" .venv-analysis/bin/slither . --compile-force-framework brownie --ignore-compile \
	  --filter-paths "node_modules|@openzeppelin" || true

bench-store: setup
	PATH="$$PWD/node_modules/.bin:$$PATH" $(VENV)/bin/python benchmarks/store_throughput.py

simulate: setup
	$(VENV)/bin/derelayl simulate --out simulation-output --json simulation-output/run.json

# EFFICACY_FLAGS=--quick runs every step of it in a few rounds, one seed, 16 participants: a
# check that the chain of commands works, writing only *-quick files (never a full run's).
bench-efficacy: setup
	nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase tune
	nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase eval
	nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase merge
	nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase merge --tasks digits --participants 32 \
		--merge-alphas 0.1 1 --resume --variants relay FedAvg centralized "merge mean 50%" "merge trimmed 75%" \
		"relay + garbage" "merge trimmed 50% + garbage" "merge trimmed, beats M - 0.02" "merge mean 100%" \
		"merge trimmed 100%" "merge mean 100% + garbage" "merge trimmed 100% + garbage" "merge clipped 100%" \
		"merge clipped 100% + garbage" "merge clipped 100% + random garbage" "merge trimmed 100% + random garbage" \
		"merge clipped at start 100%" "merge clipped at start 100% + garbage" "merge clipped at start 100% + random garbage"
	for rules in deployed deployed-free; do nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase eval \
		--rules $$rules --tasks digits --turns benchmarks/results/efficacy-tuning-seed100.json || exit 1; done
	for n in 16 32; do nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase merge --rules deployed --tasks digits \
		--participants $$n --merge-alphas 0.1 1 --resume --variants relay FedAvg centralized "merge mean 100%" \
		"merge trimmed 100%" "merge clipped 100%" "relay + garbage" "merge trimmed 100% + garbage" \
		"merge clipped 100% + garbage" || exit 1; done
	nice -n 19 $(VENV)/bin/python benchmarks/efficacy.py $(EFFICACY_FLAGS) --phase merge --tasks wine --participants 16 --merge-alphas 0.1 1 \
		--suffix=-wine --turns benchmarks/results/efficacy-tuning.json --variants relay FedAvg centralized \
		"merge mean 100%" "merge trimmed 100%" "merge clipped 100%" "merge clipped at start 100%" "relay + garbage" \
		"merge mean 100% + garbage" "merge trimmed 100% + garbage" "merge clipped 100% + garbage" \
		"merge clipped at start 100% + garbage"

bench-attacks: setup
	$(VENV)/bin/python benchmarks/attacks.py

# Start-up time of `derelayl --help` and `import derelayl` beside `python -c pass`.
bench-startup: setup
	$(VENV)/bin/python benchmarks/startup.py

# A relay of many participant processes on one Ganache (docs/scale.md): SIZES processes
# each (5 evaluators, quorum 5), ROUNDS rounds; BASELINE=REV adds the default demo of
# git revision REV (the calls per block before).
bench-scale: setup
	PATH="$$PWD/node_modules/.bin:$$PATH" $(VENV)/bin/python benchmarks/relay_scale.py --sizes $${SIZES:-10,30,50} \
	  --rounds $${ROUNDS:-3} $${BASELINE:+--baseline $$BASELINE --default}

bench-turn: setup
	PATH="$$PWD/node_modules/.bin:$$PATH" $(VENV)/bin/python benchmarks/relay_turn.py

# The gas of every function and of a relay turn (docs/gas.md), then where the turn's gas
# goes, storage write by storage write, and what stands between it and 4 ERC20
# transfers (docs/gas-writes.md).
gas: setup
	tools/brownie-on-chain.sh run $(CURDIR)/benchmarks/gas.py
	tools/brownie-on-chain.sh run $(CURDIR)/benchmarks/gas_writes.py

# The execution gas of every function on $(CHAIN), into benchmarks/results/gas-snapshot.json
# (which `make test` checks; `make gas` writes it too): about 30 s.
gas-snapshot: setup
	tools/brownie-on-chain.sh run $(CURDIR)/scripts/gas_round.py

# Where one relay turn's gas goes, per storage write (opcode traces): docs/gas-writes.md.
gas-writes: setup
	tools/brownie-on-chain.sh run $(CURDIR)/benchmarks/gas_writes.py

# The API reference from the docstrings (pdoc, installed into .venv if missing) -> build/api/.
.PHONY: docs
docs: $(VENV)/.installed
	tools/api-docs.sh build/api

clean:
	rm -rf build reports .hypothesis
