"""The audit chain's head, kept outside the database.

A hash chain cannot see its own tail cut: delete the newest events and what is left is a valid, shorter
chain. So every time events are sealed, the new head (its position and chain hash) is written to a file in
the state folder, signed with the install's secret (HMAC-SHA256), and logged. Somebody who can rewrite
the database but not this file (nor the secret) cannot rewind the chain unnoticed: `verify` checks that
the chain still reaches the checkpoint's position with the same hash. The checkpoint only moves forward.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from api.config import Settings

logger = logging.getLogger("fieldvisit.audit")
CHECKPOINT_FILE = "audit-checkpoint.json"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    chain_sha256: str
    genuine: bool


def path_for(settings: Settings) -> Path:
    return settings.state_folder / CHECKPOINT_FILE


def _mac(settings: Settings, seq: int, chain: str) -> str:
    message = f"fieldvisit-audit-head:{seq}:{chain}".encode()
    return hmac.new(settings.signing_key.encode(), message, hashlib.sha256).hexdigest()


def read(settings: Settings) -> Checkpoint | None:
    try:
        stated = json.loads(path_for(settings).read_text())
        seq, chain, mac = int(stated["seq"]), str(stated["chain_sha256"]), str(stated["mac"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return Checkpoint(0, "", genuine=False)
    return Checkpoint(seq, chain, genuine=hmac.compare_digest(mac, _mac(settings, seq, chain)))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def advance(settings: Settings, *, seq: int, chain_sha256: str) -> None:
    """Record a newer head (an older one, from a slower process, is ignored), durably."""
    path = path_for(settings)
    with _locked(path):
        current = read(settings)
        if current is not None and current.genuine and current.seq >= seq:
            return
        body = {"seq": seq, "chain_sha256": chain_sha256, "mac": _mac(settings, seq, chain_sha256)}
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        with open(draft, "w") as handle:
            handle.write(json.dumps(body) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    logger.info("audit chain head #%d %s", seq, chain_sha256)
