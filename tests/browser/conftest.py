"""A real browser against a real server: Debian's Chromium driven by Playwright, the demo bank on SQLite.

Skipped, with one clear line, when Chromium or Playwright is missing — unless FIELDVISIT_REQUIRE_BROWSER=1
(as .ci/run sets), which turns a missing browser into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.config import Settings
from api.db import make_sessionmaker
from api.main import create_app
from api.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
REQUIRED = os.environ.get("FIELDVISIT_REQUIRE_BROWSER") == "1"
SKIP_LINE = "Browser tests were skipped: install Debian's chromium (apt-get install chromium)."
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return "no /usr/bin/chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    missing = _browser_missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"browser tests are required here but {missing}")
        pytest.skip(f"{SKIP_LINE} ({missing})")


@pytest.fixture(scope="module")
def live(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A server on a free port with the demo bank loaded, in a thread of this process."""
    from api import demo

    folder = tmp_path_factory.mktemp("browser")
    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{folder / 'fv.db'}",
        photo_dir=folder / "photos",
        background_tick_seconds=0,
    )
    upgrade(settings.database_url)
    app = create_app(settings)
    with make_sessionmaker(app.state.engine)() as session:
        demo.load(session, settings=settings)
        session.commit()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "app": app, "settings": settings}
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser(live: dict[str, object]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if any(SKIP_LINE in str(getattr(report, "longrepr", "")) for report in skipped):
        terminalreporter.write_line(SKIP_LINE, yellow=True)
