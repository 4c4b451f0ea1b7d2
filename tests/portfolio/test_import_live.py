"""The import runs in a child process of a real server (kit/offload.py): a client that hangs up stops it,
and nothing of its file is written."""

from __future__ import annotations

import time

import httpx2 as httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.portfolio.models import Borrower
from tests.factories import PASSWORD, credit_code, make_bank
from tests.live import free_port, server_env, start_server

pytestmark = pytest.mark.real_clock


def test_an_import_whose_client_hung_up_is_stopped_and_writes_nothing(
    session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    branch, admin = bank.one.branch.code, bank.one.admin.username
    port = free_port()
    server = start_server(server_env(settings), port)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(f"{base}/api/v1/auth/token", data={"username": admin, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "Content-Type": "text/csv"}
        big = "\n".join(
            ["branch_code,name,credit_code"]
            + [f"{branch},挂断企业{n},{credit_code()}" for n in range(20_000)]
        )
        # The client gives up a quarter of a second after sending the file, well before the import could
        # be done (with a whole second, a quick moment of the machine let it commit just as the client went).
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/api/v1/imports/borrowers", content=big.encode(), headers=headers,
                       timeout=httpx.Timeout(60, read=0.25))  # fmt: skip
        # Uncancelled, 20,000 rows are checked and written within a few seconds on this kind of machine.
        time.sleep(10)
        assert (
            session.scalar(select(func.count()).select_from(Borrower).where(Borrower.name.like("挂断企业%")))
            == 0
        )
        # Nothing was left locked: the next file imports at once.
        small = f"branch_code,name,credit_code\n{branch},随后企业,{credit_code()}\n"
        answer = httpx.post(
            f"{base}/api/v1/imports/borrowers", content=small.encode(), headers=headers, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["imported"] == 1
    finally:
        server.terminate()
        server.wait()
