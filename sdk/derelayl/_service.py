"""Local services (Ganache, an IPFS daemon) as child processes: start each in its own
process group, wait until it answers, and stop the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

from derelayl.errors import ConfigurationError


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Starts `command` in a new session, so that stopping it stops its children too."""
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_ready(process: subprocess.Popen, answers: Callable[[], bool], name: str, address: str,
               timeout: float) -> None:
    """Polls `answers()` until it is true; stops the process and raises if it never is."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"{name} exited at start: {process.stderr.read().decode()[-500:]}")
        try:
            if answers():
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    stop(process)
    raise ConfigurationError(f"{name} did not answer at {address} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Stops the process group: SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
