"""The SHA-256 of a JSON body as the server keeps it: the same content gives the same digest however it was
sent (key order, spacing, escapes), so a phone's retry is recognised and another body under the same id is not."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_sha256(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
