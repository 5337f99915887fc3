"""Where encrypted weights live: `ModelStore` and its two backends.

- `IpfsStore`: any Kubo-compatible HTTP RPC API (a Kubo node, js-ipfs, a pinning
  service); content is added with explicit import settings (CIDv0, sha2-256, 256 KiB
  chunks, no raw leaves) so a CID never depends on the node's configuration, pinned on
  add (one request: no separate pin), and checked on get.
- `LocalStore`: an embedded folder that gives the same CIDs as an IPFS node for the
  same bytes (`derelayl.unixfs`), for unit tests and single-machine use.

Every `get` recomputes the CID of what came back and refuses content that does not
match it, and (given one) the sha256 recorded on chain.

`IpfsStore` speaks HTTP itself (`http.client`), so 40 MB of weights are never copied on
their way: `put` streams the multipart body from the caller's buffer (one `sendall` of
a memoryview, with a Content-Length) while a thread computes the expected CID
(hashlib releases the GIL), and `get` reads the response into 1 MiB buffers. It used
ipfshttpclient until 2026-12-01; that client (0.8.0a2, an alpha with no release since
2021) sent a 40 MB body in 8 KB pieces (4,891 sends) and copied it on the way, which
was most of a 10M-parameter turn's pinning time outside the daemon
(docs/benchmarks.md, bench-turn).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from derelayl import crypto
from derelayl.errors import ContentMismatch, ContentNotFound, StorageError, StorageUnreachable
from derelayl.unixfs import CHUNK_SIZE, cid_v0

_MULTIADDR = re.compile(r"^/(ip4|ip6|dns|dns4|dns6)/([^/]+)/tcp/(\d+)(?:/(http|https))?/?$")


def api_address(api: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an IPFS API given as a multiaddr
    (``/ip4/127.0.0.1/tcp/5001/http``) or a URL (``http://127.0.0.1:5001``)."""
    match = _MULTIADDR.match(api)
    if match:
        return match.group(4) or "http", match.group(2), int(match.group(3))
    url = urlsplit(api)
    if url.scheme in ("http", "https") and url.hostname:
        return url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80)
    raise StorageError(f"not an IPFS API address: {api!r} (e.g. /ip4/127.0.0.1/tcp/5001/http)")


class Pinning:
    """A `put` under way in a thread: `cid` is known at once (computed locally, the CID
    the store must give), `wait()` returns it once the store holds the content, or
    raises what the store raised."""

    def __init__(self, store: "ModelStore", content: bytes) -> None:
        self.cid = cid_v0(content)
        self.seconds: float | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store, content), daemon=True,
                                        name=f"pin {self.cid}")
        self._thread.start()

    def _run(self, store: "ModelStore", content: bytes) -> None:
        started = time.perf_counter()
        try:
            store.put(content, expected=self.cid)
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            self._error = exc
        self.seconds = time.perf_counter() - started  # how long the pin itself took

    def wait(self, timeout: float | None = None) -> str:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise StorageError(f"pinning {self.cid} has not finished after {timeout} s")
        if self._error is not None:
            raise self._error
        return self.cid


class ModelStore(ABC):
    """Content-addressed bytes: `put` returns the CID, `get` returns verified bytes."""

    @abstractmethod
    def put(self, content: bytes, expected: str | None = None) -> str:
        """Stores (and pins) `content`; returns its CIDv0. `expected`: its CID when the
        caller computed it already (the store still refuses to give another)."""

    def start_put(self, content: bytes) -> Pinning:
        """Starts `put(content)` in a thread and returns at once with the CID, so a
        transaction naming it can go while the content is pinned; `wait()` on the
        result before counting the content as stored. `content` must not change
        until then."""
        return Pinning(self, content)

    def put_encrypted(self, plain: bytes) -> tuple[str, bytes]:
        """Encrypts the model weights `plain` with a new model key and stores them, as
        every model is stored (genesis or trained); returns (CID, key)."""
        key = crypto.new_model_key()
        return self.put(crypto.encrypt(plain, key)), key

    @abstractmethod
    def _fetch(self, cid: str) -> tuple[bytes, str]:
        """The raw bytes behind `cid`, unverified, and the CID they hash to."""

    def get(self, cid: str, sha256: bytes | None = None) -> bytes:
        """The bytes behind `cid`, checked against the CID and, if given, the sha256."""
        content, actual = self._fetch(cid)
        if actual != cid:
            raise ContentMismatch(f"content fetched for {cid} hashes to {actual} ({len(content)} bytes)")
        if sha256 is not None and hashlib.sha256(content).digest() != sha256:
            raise ContentMismatch(f"content of {cid} does not match the recorded sha256 {sha256.hex()}")
        return content


class LocalStore(ModelStore):
    """A folder of files named by CID."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def put(self, content: bytes, expected: str | None = None) -> str:
        cid = cid_v0(content)
        if expected is not None and cid != expected:
            raise StorageError(f"content of {len(content)} bytes hashes to {cid}, not {expected}")
        path = self.folder / cid
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)  # atomic: a crash never leaves half a file under a CID
        return cid

    def _fetch(self, cid: str) -> tuple[bytes, str]:
        path = self.folder / cid
        if not path.exists():
            raise ContentNotFound(f"{cid} is not in {self.folder}")
        content = path.read_bytes()
        return content, cid_v0(content)


class IpfsStore(ModelStore):
    """An IPFS node's HTTP RPC API, e.g. ``/ip4/127.0.0.1/tcp/5001/http``."""

    ADD_OPTIONS = {"cid-version": 0, "chunker": f"size-{CHUNK_SIZE}", "raw-leaves": "false", "pin": "true",
                   "hash": "sha2-256", "progress": "false", "preload": "false"}

    def __init__(self, api: str, retries: int = 3, delay: float = 1.0, timeout: float = 120) -> None:
        self.api = api
        self._scheme, self._host, self._port = api_address(api)
        self._retries, self._delay, self._timeout = retries, delay, timeout
        self._retry(lambda: self._call("version", {}))  # fails now, by name, if nothing answers

    # ------------------------------------------------------------------ HTTP

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def _retry(self, action):
        for attempt in range(self._retries):
            try:
                return action()
            except (ConnectionError, socket.timeout, socket.gaierror, http.client.RemoteDisconnected) as exc:
                if attempt + 1 == self._retries:
                    raise StorageUnreachable(f"no IPFS API answers at {self.api} "
                                             f"(tried {self._retries} times): {exc}") from exc
                time.sleep(self._delay)

    def _request(self, command: str, params: dict, body_parts=(), content_type: str | None = None):
        """Sends POST /api/v0/<command> with `body_parts` (bytes-like, sent as they
        are); returns the open response, or StorageError with the node's message."""
        connection = self._connection()
        connection.putrequest("POST", f"/api/v0/{command}?{urlencode(params, quote_via=quote)}",
                              skip_accept_encoding=True)
        connection.putheader("Content-Length", str(sum(len(part) for part in body_parts)))
        if content_type:
            connection.putheader("Content-Type", content_type)
        connection.endheaders()
        for part in body_parts:
            connection.send(part)
        response = connection.getresponse()
        if response.status != 200:
            text = response.read().decode(errors="replace")
            connection.close()
            try:
                message = json.loads(text).get("Message", text)
            except ValueError:
                message = text
            raise StorageError(f"the IPFS node at {self.api} refused {command}: {message.strip() or response.status}")
        return connection, response

    def _call(self, command: str, params: dict) -> str:
        connection, response = self._request(command, params)
        try:
            return response.read().decode()
        finally:
            connection.close()

    # ---------------------------------------------------------------- store

    def put(self, content: bytes, expected: str | None = None) -> str:
        view = memoryview(content).cast("B")
        computed: list[str] = [expected] if expected else []
        hashing = threading.Thread(target=lambda: computed.append(cid_v0(view)), daemon=True)
        if not expected:
            hashing.start()  # overlaps the upload; hashlib releases the GIL
        boundary = os.urandom(16).hex()
        opening = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"weights\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n").encode()
        closing = f"\r\n--{boundary}--\r\n".encode()

        def add() -> str:
            connection, response = self._request("add", self.ADD_OPTIONS, (opening, view, closing),
                                                 f"multipart/form-data; boundary={boundary}")
            try:
                lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]
            finally:
                connection.close()
            added = [line for line in lines if "Hash" in line]
            if not added:
                raise StorageError(f"the IPFS node at {self.api} answered add without a CID: {lines[-1:] or 'nothing'}")
            return added[-1]["Hash"]

        cid = self._retry(add)
        if not expected:
            hashing.join()
        if cid != computed[0]:
            raise StorageError(f"the node at {self.api} stored the content as {cid}, expected {computed[0]}")
        return cid

    def _fetch(self, cid: str) -> tuple[bytes, str]:
        def cat() -> tuple[bytes, str]:
            connection, response = self._request("cat", {"arg": cid})
            pieces = []
            try:
                while True:
                    piece = bytearray(4 * CHUNK_SIZE)
                    size = response.readinto(piece)  # straight from the socket, no join of small reads
                    if not size:
                        break
                    pieces.append(memoryview(piece)[:size])
                trailer = response.getheader("X-Stream-Error")
            finally:
                connection.close()
            if trailer:
                raise StorageError(f"the IPFS node at {self.api} failed to send {cid}: {trailer}")
            # Hashed once it is all here: hashing each piece as it came stalled the node's
            # sending (measured: no faster, often slower, than reading first).
            content = b"".join(pieces)
            return content, cid_v0(content)

        return self._retry(cat)
