"""Kubo-compatible CIDv0 of a byte string, computed without a node.

Kubo's (and js-ipfs's) default import: fixed 256 KiB chunks, dag-pb leaves holding
UnixFS `File` nodes (no raw leaves), a balanced DAG of at most 174 links per node,
sha2-256, CIDv0. No maintained Python library builds multi-chunk UnixFS DAGs, so this
module encodes the two small protobuf messages by hand; tests/sdk/test_storage.py
checks it against a real IPFS daemon at 0 B, 1 KB, 256 KiB + 1, 1 MB and 10 MB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import base58

CHUNK_SIZE = 262_144
MAX_LINKS = 174
UNIXFS_FILE = 2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _uint(number: int, value: int) -> bytes:
    """A varint protobuf field."""
    return _varint(number << 3) + _varint(value)


def _unixfs_file(data: bytes | None, filesize: int, blocksizes: list[int]) -> bytes:
    message = _uint(1, UNIXFS_FILE)
    if data:
        message += _field(2, data)
    message += _uint(3, filesize)
    for size in blocksizes:
        message += _uint(4, size)
    return message


@dataclass(frozen=True)
class _Node:
    multihash: bytes  # 0x12 0x20 + sha256 of the encoded node
    filesize: int  # content bytes below this node
    dag_size: int  # encoded bytes of this node and everything below it


def _pb_node(links: list[_Node], data: bytes) -> _Node:
    # dag-pb writes Links (field 2) before Data (field 1); every link has Name "".
    encoded = b"".join(
        _field(2, _field(1, link.multihash) + _field(2, b"") + _uint(3, link.dag_size)) for link in links
    ) + _field(1, data)
    multihash = b"\x12\x20" + hashlib.sha256(encoded).digest()
    return _Node(multihash, 0, len(encoded) + sum(link.dag_size for link in links))


def _leaf(chunk) -> _Node:
    """The leaf holding `chunk` (any bytes-like), hashed in place: the protobuf framing
    around the chunk is hashed before and after it, never copied with it."""
    size = len(chunk)
    unixfs_head = _uint(1, UNIXFS_FILE) + (_varint(2 << 3 | 2) + _varint(size) if size else b"")
    unixfs_tail = _uint(3, size)
    unixfs_len = len(unixfs_head) + size + len(unixfs_tail)
    head = _varint(1 << 3 | 2) + _varint(unixfs_len) + unixfs_head
    digest = hashlib.sha256(head)
    if size:
        digest.update(chunk)
    digest.update(unixfs_tail)
    return _Node(b"\x12\x20" + digest.digest(), size, len(head) + size + len(unixfs_tail))


def _parent(children: list[_Node]) -> _Node:
    filesize = sum(c.filesize for c in children)
    node = _pb_node(children, _unixfs_file(None, filesize, [c.filesize for c in children]))
    return _Node(node.multihash, filesize, node.dag_size)


def _root(leaves: list[_Node]) -> str:
    level = leaves or [_leaf(b"")]
    while len(level) > 1:
        level = [_parent(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
    return base58.b58encode(level[0].multihash).decode()


def cid_v0(content) -> str:
    """The CID an IPFS node gives `content` (bytes-like) with Kubo's default import settings."""
    view = memoryview(content).cast("B")
    return _root([_leaf(view[i : i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE)])
