"""A local IPFS daemon (js-ipfs), started on free ports with its own repository and
stopped by `stop()` or on leaving `with`.

js-ipfs is found in $DERELAYL_JSIPFS, else as `jsipfs` on PATH, else in the
node_modules/.bin of the DeRelayL checkout the working directory lies in. Node 20 lacks
`Promise.withResolvers`, which js-ipfs 0.66 calls: the polyfill ships with the package
(`derelayl/promise-with-resolvers.cjs`) and is loaded with `node --require`.

Only the node's start-up is js-ipfs specific: the SDK talks to it through the
Kubo-compatible HTTP RPC API, exactly as to a Kubo node.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

import requests

from derelayl import _executables, _service
from derelayl.localchain import free_port

#: Where a user gets js-ipfs (the version this project is tested with) and Node.
JSIPFS_INSTALL = "npm install -g ipfs@0.66.1"
NODE_INSTALL = "install Node.js 20 or later (https://nodejs.org) and make sure `node` is on PATH"


def jsipfs_executable() -> str:
    """The js-ipfs CLI to start; ConfigurationError with the install command if none is found."""
    return _executables.find("jsipfs", "DERELAYL_JSIPFS", "js-ipfs", JSIPFS_INSTALL)


def node_executable() -> str:
    """Node.js, which runs js-ipfs (with the polyfill preloaded)."""
    return _executables.find("node", "DERELAYL_NODE", "Node.js", NODE_INSTALL)


class IpfsNode:
    """An offline js-ipfs daemon; `api` is its multiaddr, `api_url` its HTTP address."""

    def __init__(self, repo: Path | None = None, timeout: float = 60, api_port: int | None = None) -> None:
        """`repo`: a folder to keep the node's blocks in (default: a temporary one,
        removed on stop); `api_port`: a fixed API port (default: a free one). With
        both, a stopped node can be started again at the same address with its pins."""
        jsipfs, node_bin = jsipfs_executable(), node_executable()
        self._files = ExitStack()  # the polyfill as a real file while the node runs
        polyfill = self._files.enter_context(resources.as_file(resources.files("derelayl") /
                                                               "promise-with-resolvers.cjs"))
        self._tmp = None if repo else tempfile.TemporaryDirectory(prefix="derelayl-ipfs-")
        self.repo = Path(repo or self._tmp.name) / "repo"
        self.api_port, self.gateway_port, self.rpc_port = api_port or free_port(), free_port(), free_port()
        self.api = f"/ip4/127.0.0.1/tcp/{self.api_port}/http"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        env = {**os.environ, "IPFS_PATH": str(self.repo)}
        node = [node_bin, "--require", str(polyfill), jsipfs]
        config = self.repo / "config"
        init_config = self.repo.parent / "init-config.json"  # read by the daemon as it starts
        if config.exists():  # a restart: the repository takes this start's ports
            config.write_text(json.dumps(_merged(json.loads(config.read_text()), self._settings()), indent=2))
            init = []
        else:
            # The daemon creates the repository with these settings: one start of js-ipfs,
            # where `jsipfs init` first took as much CPU as the daemon (3.8 CPU-s).
            init_config.parent.mkdir(parents=True, exist_ok=True)
            init_config.write_text(json.dumps(self._settings()))
            init = ["--init-config", str(init_config)]
        try:
            self.process = _service.start([*node, "daemon", "--offline", *init], env)
            _service.wait_ready(self.process, lambda: requests.post(f"{self.api_url}/api/v0/id", timeout=2).ok,
                                "IPFS daemon", self.api_url, timeout)
        finally:
            init_config.unlink(missing_ok=True)  # nothing left beside a user's repository

    def _settings(self) -> dict:
        """This node's settings over js-ipfs's defaults: its ports on loopback, no peers
        to bootstrap or discover (an offline node)."""
        return {
            "Bootstrap": [],
            "Addresses": {"API": f"/ip4/127.0.0.1/tcp/{self.api_port}",
                          "Gateway": f"/ip4/127.0.0.1/tcp/{self.gateway_port}",
                          "RPC": f"/ip4/127.0.0.1/tcp/{self.rpc_port}", "Swarm": [], "Delegates": []},
            "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}},
        }

    def stop(self) -> None:
        """Stops the daemon (its process group); removes a temporary repository."""
        _service.stop(self.process)
        self._files.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "IpfsNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _merged(config: dict, settings: dict) -> dict:
    """`config` with `settings` written over it, key by key in nested tables."""
    merged = dict(config)
    for key, value in settings.items():
        merged[key] = _merged(config.get(key, {}), value) if isinstance(value, dict) else value
    return merged
