"""Where encrypted weights live: `ModelStore` and its two backends.

- `IpfsStore`: any Kubo-compatible HTTP RPC API (a Kubo node, js-ipfs, a pinning
  service); content is added with explicit import settings (CIDv0, sha2-256, 256 KiB
  chunks, no raw leaves) so a CID never depends on the node's configuration, pinned on
  add, and checked on get.
- `LocalStore`: an embedded folder that gives the same CIDs as an IPFS node for the
  same bytes (`derelayl.unixfs`), for unit tests and single-machine use.

Every `get` recomputes the CID of what came back and refuses content that does not
match it, and (given one) the sha256 recorded on chain.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

from derelayl import crypto
from derelayl.errors import ContentMismatch, ContentNotFound, StorageError, StorageUnreachable
from derelayl.unixfs import cid_v0

# ipfshttpclient 0.8.0a2 passes urllib3 a `strict` argument that urllib3 2 only warns
# about, on every request: noise in every participant's log, not a problem.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)


class ModelStore(ABC):
    """Content-addressed bytes: `put` returns the CID, `get` returns verified bytes."""

    @abstractmethod
    def put(self, content: bytes) -> str:
        """Stores (and pins) `content`; returns its CIDv0."""

    def put_encrypted(self, plain: bytes) -> tuple[str, bytes]:
        """Encrypts the model weights `plain` with a new model key and stores them, as
        every model is stored (genesis or trained); returns (CID, key)."""
        key = crypto.new_model_key()
        return self.put(crypto.encrypt(plain, key)), key

    @abstractmethod
    def _fetch(self, cid: str) -> bytes:
        """The raw bytes behind `cid`, unverified."""

    def get(self, cid: str, sha256: bytes | None = None) -> bytes:
        """The bytes behind `cid`, checked against the CID and, if given, the sha256."""
        content = self._fetch(cid)
        actual = cid_v0(content)
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

    def put(self, content: bytes) -> str:
        cid = cid_v0(content)
        path = self.folder / cid
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)  # atomic: a crash never leaves half a file under a CID
        return cid

    def _fetch(self, cid: str) -> bytes:
        path = self.folder / cid
        if not path.exists():
            raise ContentNotFound(f"{cid} is not in {self.folder}")
        return path.read_bytes()


class IpfsStore(ModelStore):
    """An IPFS node's HTTP RPC API, e.g. ``/ip4/127.0.0.1/tcp/5001/http``."""

    ADD_OPTIONS = {"cid_version": 0, "chunker": "size-262144", "raw_leaves": False, "pin": True,
                   "opts": {"hash": "sha2-256"}}

    def __init__(self, api: str, retries: int = 3, delay: float = 1.0, timeout: float = 120) -> None:
        import ipfshttpclient

        self.api = api
        self._retries, self._delay = retries, delay
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # VersionMismatch for daemons the client does not know
            try:
                self._client = self._retry(lambda: ipfshttpclient.connect(api, timeout=timeout))
            except StorageError:
                raise
            except Exception as exc:  # noqa: BLE001 - the client raises many kinds
                raise StorageUnreachable(f"no IPFS API answers at {api}: {exc}") from exc

    def _retry(self, action):
        import ipfshttpclient.exceptions as ipfs_errors

        for attempt in range(self._retries):
            try:
                return action()
            except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
                if attempt + 1 == self._retries:
                    raise StorageUnreachable(f"no IPFS API answers at {self.api} "
                                             f"(tried {self._retries} times): {exc}") from exc
                time.sleep(self._delay)

    def put(self, content: bytes) -> str:
        result = self._retry(lambda: self._client.add(io.BytesIO(content), **self.ADD_OPTIONS))
        cid = result["Hash"]
        expected = cid_v0(content)
        if cid != expected:
            raise StorageError(f"the node at {self.api} stored the content as {cid}, expected {expected}")
        return cid

    def _fetch(self, cid: str) -> bytes:
        return self._retry(lambda: self._client.cat(cid))
