"""Files that other processes wait for: written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_whole(path: Path, text: str) -> Path:
    """Writes `text` to `path` through a file beside it and a rename, so that a reader
    that opens `path` as soon as it exists never finds it empty or half-written (a
    participant started with `wait_for_deployment` did, and stopped with "not valid
    JSON"). Creates the folder; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)
    return path
