#!/usr/bin/env bash
# Writes the API reference of the derelayl package, generated from its docstrings
# with pdoc, to build/api/ (open build/api/index.html). Installs pdoc into .venv
# when it is missing. `make docs` runs this.
#   tools/api-docs.sh              # into build/api
#   tools/api-docs.sh OUT_DIR      # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
PDOC_VERSION=16.0.0
out="${1:-build/api}"
if [ ! -x .venv/bin/python ]; then
  echo "no .venv here: run make setup first" >&2
  exit 1
fi
if ! .venv/bin/python -c "import pdoc, sys; sys.exit(pdoc.__version__ != '$PDOC_VERSION')" 2>/dev/null; then
  .venv/bin/pip install --quiet "pdoc==$PDOC_VERSION"
fi
# The package and each public module or subpackage in it, by name: pdoc follows the
# package's `__all__`, which lists its exports but not its modules. A subpackage
# brings its own modules.
modules=$(.venv/bin/python - <<'PY'
import pkgutil, derelayl
names = [m.name for m in pkgutil.iter_modules(derelayl.__path__, "derelayl.")]
print(" ".join(["derelayl"] + [n for n in names if not n.split(".")[-1].startswith("_")]))
PY
)
rm -rf "$out"
# numpy-style sections; `backticks` in docstrings become links where they name an object.
.venv/bin/pdoc --docformat numpy --no-show-source --output-directory "$out" $modules
echo "API reference written to $out/index.html"
