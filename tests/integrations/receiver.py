"""A webhook receiver as an integrator would write one: it checks every delivery's signature with the
`standardwebhooks` package (not our code), refuses what fails (400), and appends each verified delivery as one
JSON line `{"id", "type", "data", "signatures"}` to a file. Run as a process of its own so that a test can
kill it (SIGKILL) and start it again: python -m tests.integrations.receiver PORT SECRET LOG."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def handler_for(secret: str, log: Path, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                payload: Any = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            record = {
                "id": headers["webhook-id"],
                "type": payload["type"],
                "data": payload["data"],
                "signatures": headers["webhook-signature"].count("v1,"),
            }
            with lock, log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


def serve(port: int, secret: str, log: Path) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), handler_for(secret, log, threading.Lock()))


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])).serve_forever()
