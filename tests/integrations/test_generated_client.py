"""What an integrator does first: generate a client from /openapi.json with openapi-python-client, exchange
an API key for a token and pull visits page by page, against a real `fieldvisit serve`."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.orm import Session

from api.config import Settings
from api.integrations.models import Scope
from tests.factories import make_bank, make_service_account, make_visit
from tests.live import free_port, server_env, start_server

pytestmark = pytest.mark.real_clock


def _generate(spec_url: str, folder: Path) -> str:
    spec = folder / "openapi.json"
    spec.write_bytes(httpx.get(spec_url, timeout=10).content)
    package = f"fieldvisit_client_{uuid.uuid4().hex[:8]}"
    bin_dir = Path(sys.executable).parent
    made = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(folder / package)],
        capture_output=True, text=True, env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return package


def _module(package: str, name: str) -> Any:
    return importlib.import_module(f"{package}.{name}")


def test_a_generated_client_pulls_the_branchs_visits_with_an_api_key(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    bank = make_bank(session)
    extra = [make_visit(session, collateral=bank.one.collateral, version=bank.version) for _ in range(4)]
    session.commit()
    _system, key = make_service_account(
        session, admin=bank.one.admin, branches=[bank.one.branch], scopes=[Scope.visits_read]
    )
    port = free_port()
    server = start_server(server_env(settings), port)
    base = f"http://127.0.0.1:{port}"
    try:
        package = _generate(f"{base}/openapi.json", tmp_path)
        sys.path.insert(0, str(tmp_path))
        try:
            client_module = _module(package, "client")
            models = _module(package, "models")
            sign_in = _module(package, "api.auth.sign_in_api_v1_auth_token_post")
            list_visits = _module(package, "api.visits.list_visits_api_v1_visits_get")
            get_visit = _module(package, "api.visits.get_visit_api_v1_visits_visit_id_get")

            with client_module.Client(base_url=base) as anonymous:
                token = sign_in.sync(
                    client=anonymous,
                    body=models.BodySignInApiV1AuthTokenPost(
                        grant_type="client_credentials", client_secret=key
                    ),
                )
            assert isinstance(token, models.ClientTokenOut), token
            assert token.scope == "visits:read"
            with client_module.AuthenticatedClient(base_url=base, token=token.access_token) as authed:
                seen: list[uuid.UUID] = []
                cursor: Any = None
                while True:
                    page = list_visits.sync(client=authed, limit=2, **({"cursor": cursor} if cursor else {}))
                    assert isinstance(page, models.PageVisitSummary), page
                    seen.extend(visit.id for visit in page.items)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                assert sorted(seen) == sorted([bank.one.visit.id, *(visit.id for visit in extra)])
                record = get_visit.sync(client=authed, visit_id=bank.one.visit.id)
                assert isinstance(record, models.VisitRecord), record
                refused = get_visit.sync_detailed(client=authed, visit_id=bank.two.visit.id)
                assert refused.status_code == 404 and isinstance(refused.parsed, models.Problem)
        finally:
            sys.path.remove(str(tmp_path))
    finally:
        server.kill()
        server.wait()
