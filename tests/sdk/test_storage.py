"""derelayl.storage against a real IPFS daemon: LocalStore gives the daemon's CIDs
byte for byte (multi-chunk files included), content is verified on every get, and an
unreachable node is named."""

import hashlib
import os
import random

import pytest

from derelayl.storage import (
    ContentMismatch,
    ContentNotFound,
    IpfsStore,
    LocalStore,
    StorageError,
    StorageUnreachable,
)
from derelayl.unixfs import cid_v0

SIZES = [0, 1024, 256 * 1024 + 1, 1_000_000, 10_000_000]


@pytest.fixture(scope="module")
def ipfs(ipfs_node):
    return IpfsStore(ipfs_node.api)


def content_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed + size).randbytes(size)


def test_known_cid():
    assert cid_v0(b"hello world\n") == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


@pytest.mark.parametrize("size", SIZES)
def test_local_store_gives_the_daemons_cid(ipfs, tmp_path, size):
    content = content_of(size)
    assert LocalStore(tmp_path).put(content) == ipfs.put(content)


@pytest.mark.parametrize("size", SIZES)
def test_ipfs_round_trip_is_verified(ipfs, size):
    content = content_of(size, seed=1)
    cid = ipfs.put(content)
    assert ipfs.get(cid, sha256=hashlib.sha256(content).digest()) == content


def test_ipfs_get_refuses_wrong_recorded_hash(ipfs):
    cid = ipfs.put(b"weights")
    with pytest.raises(ContentMismatch, match="sha256"):
        ipfs.get(cid, sha256=hashlib.sha256(b"other").digest())


def test_local_store_refuses_corrupted_content(tmp_path):
    store = LocalStore(tmp_path)
    cid = store.put(os.urandom(300_000))
    path = tmp_path / cid
    damaged = bytearray(path.read_bytes())
    damaged[1000] ^= 1
    path.write_bytes(bytes(damaged))
    with pytest.raises(ContentMismatch, match=cid):
        store.get(cid)


def test_local_store_refuses_truncated_content(tmp_path):
    store = LocalStore(tmp_path)
    cid = store.put(os.urandom(1000))
    (tmp_path / cid).write_bytes((tmp_path / cid).read_bytes()[:-1])
    with pytest.raises(ContentMismatch):
        store.get(cid)


def test_local_store_unknown_cid(tmp_path):
    with pytest.raises(ContentNotFound):
        LocalStore(tmp_path).get(cid_v0(b"never stored"))


def test_unreachable_ipfs_is_named():
    with pytest.raises(StorageUnreachable, match="127.0.0.1/tcp/9"):
        IpfsStore("/ip4/127.0.0.1/tcp/9/http", retries=2, delay=0.05)


def test_ipfs_store_takes_any_buffer_and_api_form(ipfs, ipfs_node):
    """put streams from a bytearray or memoryview (what encrypt returns); the API may
    be a multiaddr or a URL."""
    content = bytearray(content_of(600_000, seed=3))
    cid = ipfs.put(content)
    assert ipfs.put(memoryview(content)) == cid == cid_v0(bytes(content))
    assert IpfsStore(ipfs_node.api_url).get(cid) == content


def test_ipfs_refusal_is_one_line_with_the_nodes_message(ipfs):
    with pytest.raises(StorageError, match=r"refused cat: .+") as caught:
        ipfs.get("not-a-cid")
    assert "\n" not in str(caught.value)


def test_malformed_api_address_is_named():
    with pytest.raises(StorageError, match="not an IPFS API address"):
        IpfsStore("127.0.0.1:5001")


def test_start_put_gives_the_cid_at_once_and_pins_alongside(ipfs, tmp_path):
    content = content_of(700_000, seed=4)
    for store in (ipfs, LocalStore(tmp_path)):
        pinning = store.start_put(content)
        assert pinning.cid == cid_v0(content)
        assert pinning.wait() == pinning.cid
        assert store.get(pinning.cid) == content


def test_a_failed_background_pin_is_raised_by_wait(ipfs_node):
    store = IpfsStore(ipfs_node.api, retries=1)
    store._port = 9  # the node goes away after the store was made
    pinning = store.start_put(b"weights")
    with pytest.raises(StorageUnreachable, match="127.0.0.1"):
        pinning.wait()


def test_the_same_key_and_nonce_rebuild_the_same_cid(tmp_path):
    """What lets a trainer pin again, from its weights on disk, the CID it submitted."""
    from derelayl import crypto

    plain, key, nonce = content_of(300_000, seed=5), crypto.new_model_key(), crypto.new_nonce()
    store = LocalStore(tmp_path)
    cid = store.start_put(crypto.encrypt(plain, key, nonce)).wait()
    assert store.put(crypto.encrypt(plain, key, nonce), expected=cid) == cid
    with pytest.raises(StorageError, match=f"not {cid}"):
        store.put(crypto.encrypt(plain, key), expected=cid)
