"""Serving on several cores: one process per worker, each with its own SO_REUSEPORT socket.

uvicorn's own `--workers` shares one listening socket, and on these machines the kernel then often
hands every keep-alive connection to the same worker; separate SO_REUSEPORT sockets spread them.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _logging(log_level: str) -> dict[str, Any]:
    from api.config import get_settings
    from api.logs import log_config

    return {"log_config": log_config(get_settings().log_format, log_level.upper()), "access_log": False}


def _worker(host: str, port: int, log_level: str) -> None:
    sock = _listening_socket(host, port)
    config = uvicorn.Config(
        "api.asgi:app", log_level=log_level, loop="auto", http="auto", **_logging(log_level)
    )
    uvicorn.Server(config).run(sockets=[sock])


class PortTaken(Exception):
    pass


def refuse_taken_port(host: str, port: int) -> None:
    """SO_REUSEPORT would let a second `serve` share a port that is in use, silently splitting the
    traffic with whatever listens there (even a server on another database). Probe with a plain socket
    first; only `--join` skips this, on purpose."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise PortTaken(f"{host}:{port} is already in use ({exc.strerror}); pass --join to share it") from exc
    finally:
        probe.close()


def serve(host: str, port: int, workers: int, log_level: str = "info", join: bool = False) -> None:
    if not join:
        refuse_taken_port(host, port)
    if workers <= 1:
        uvicorn.run("api.asgi:app", host=host, port=port, log_level=log_level, **_logging(log_level))
        return
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(host, port, log_level), daemon=False) for _ in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()
