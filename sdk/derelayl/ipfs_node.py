"""A local IPFS daemon (js-ipfs from the project's node_modules), started on free
ports with its own repository and stopped by `stop()` or on leaving `with`.

Only the node's start-up is js-ipfs specific: the SDK talks to it through the
Kubo-compatible HTTP RPC API, exactly as to a Kubo node.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import requests

from derelayl import _service
from derelayl.chain import ROOT, free_port
from derelayl.errors import ConfigurationError

JSIPFS = ROOT / "node_modules" / ".bin" / "jsipfs"
POLYFILL = ROOT / "tools" / "promise-with-resolvers.cjs"


class IpfsNode:
    """An offline js-ipfs daemon; `api` is its multiaddr, `api_url` its HTTP address."""

    def __init__(self, repo: Path | None = None, timeout: float = 60, api_port: int | None = None) -> None:
        """`repo`: a folder to keep the node's blocks in (default: a temporary one,
        removed on stop); `api_port`: a fixed API port (default: a free one). With
        both, a stopped node can be started again at the same address with its pins."""
        if not JSIPFS.exists():
            raise ConfigurationError(f"js-ipfs not found at {JSIPFS}: run `make setup`")
        self._tmp = None if repo else tempfile.TemporaryDirectory(prefix="derelayl-ipfs-")
        self.repo = Path(repo or self._tmp.name) / "repo"
        self.api_port, self.gateway_port, self.rpc_port = api_port or free_port(), free_port(), free_port()
        self.api = f"/ip4/127.0.0.1/tcp/{self.api_port}/http"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        env = {**os.environ, "IPFS_PATH": str(self.repo)}
        node = ["node", "--require", str(POLYFILL), str(JSIPFS)]
        if not (self.repo / "config").exists():
            subprocess.run([*node, "init", "--empty-repo"], env=env, check=True, capture_output=True, timeout=120)
        self._configure()
        self.process = _service.start([*node, "daemon", "--offline"], env)
        _service.wait_ready(self.process, lambda: requests.post(f"{self.api_url}/api/v0/id", timeout=2).ok,
                            "IPFS daemon", self.api_url, timeout)

    def _configure(self) -> None:
        path = self.repo / "config"
        config = json.loads(path.read_text())
        config["Bootstrap"] = []
        config["Addresses"].update({
            "API": f"/ip4/127.0.0.1/tcp/{self.api_port}",
            "Gateway": f"/ip4/127.0.0.1/tcp/{self.gateway_port}",
            "RPC": f"/ip4/127.0.0.1/tcp/{self.rpc_port}",
            "Swarm": [], "Delegates": [],
        })
        config["Discovery"]["MDNS"]["Enabled"] = False
        config["Discovery"]["webRTCStar"]["Enabled"] = False
        path.write_text(json.dumps(config, indent=2))

    def stop(self) -> None:
        _service.stop(self.process)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "IpfsNode":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
