"""Finding the node-side executables (Ganache, js-ipfs): an environment variable, then
PATH, then the node_modules/.bin of a DeRelayL checkout that the working directory lies
in. Never a path derived from where the package is installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from derelayl.errors import ConfigurationError


def find(name: str, env_var: str, what: str, install: str) -> str:
    """The path of executable `name`: $`env_var` (a path, checked), else `name` on PATH,
    else a checkout's node_modules/.bin; ConfigurationError saying how to install it."""
    configured = os.environ.get(env_var)
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise ConfigurationError(f"${env_var} = {configured} is not an executable file: "
                                 f"point it at the `{name}` executable, or unset it to look on PATH")
    found = shutil.which(name)
    if found:
        return found
    checkout = _checkout_bin(name)
    if checkout is not None:
        return str(checkout)
    raise ConfigurationError(f"{what} not found on PATH or in ${env_var}: install it with `{install}` "
                             f"(or set ${env_var} to its `{name}` executable)")


def _checkout_bin(name: str) -> Path | None:
    """node_modules/.bin/`name` of the DeRelayL checkout containing the working directory."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        package = folder / "package.json"
        if package.is_file():
            try:
                if json.loads(package.read_text()).get("name") == "derelayl":
                    candidate = folder / "node_modules" / ".bin" / name
                    return candidate if candidate.exists() else None
            except (ValueError, OSError, AttributeError):
                pass
    return None
