"""A map tile provider for the tests: a real HTTP server in a thread drawing each tile as a PNG of its own
colour (so a tile shown can be told from another), plus the ways a real provider fails."""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw


def tile_png(z: int, x: int, y: int) -> bytes:
    colour = ((x * 53 + z * 17) % 200 + 40, (y * 97 + z * 31) % 200 + 40, (z * 23) % 200 + 40)
    image = Image.new("RGB", (256, 256), colour)
    ImageDraw.Draw(image).text((8, 8), f"{z}/{x}/{y}", fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Provider:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.url = ""

    def template(self, kind: str = "tiles") -> str:
        return f"{self.url}/{kind}/{{z}}/{{x}}/{{y}}.png"


@contextmanager
def tile_provider() -> Iterator[Provider]:
    """Paths: /tiles/z/x/y.png a tile; /html/… an error page with 200; /missing/… 404; /failing/… 503;
    /moved/… a redirect to the tile;
    /huge/… a body larger than any tile; /a/tiles/… and /b/tiles/… for `{s}` subdomains."""
    provider = Provider()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.strip("/").removesuffix(".png").split("/")
            provider.hits[self.path] += 1
            kind, (z, x, y) = "/".join(parts[:-3]), (int(p) for p in parts[-3:])
            if kind in ("tiles", "a/tiles", "b/tiles"):
                self._answer(200, "image/png", tile_png(z, x, y))
            elif kind == "html":
                self._answer(200, "text/html", b"<html><body>quota exceeded</body></html>")
            elif kind == "moved":
                self.send_response(302)
                self.send_header("Location", f"/tiles/{z}/{x}/{y}.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif kind == "missing":
                self._answer(404, "text/plain", b"no tile")
            elif kind == "huge":
                self._answer(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * (600 * 1024))
            else:
                self._answer(503, "text/plain", b"busy")

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
