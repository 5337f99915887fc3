"""Services the SDK tests need, started by the test run itself and stopped after it."""

import pytest

from derelayl.ipfs_node import IpfsNode


@pytest.fixture(scope="session")
def ipfs_node():
    """A real IPFS daemon (js-ipfs, offline) on free ports, for the whole session."""
    with IpfsNode() as node:
        yield node
