from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.cli import main
from api.config import Settings, get_settings
from api.db import utcnow
from api.portfolio.credit_code import complete
from api.portfolio.models import Borrower, Collateral, Declaration, Facility
from tests.factories import Bank, login, make_bank

GOOD = complete("91310115MA1H7K3P5")
OTHER = complete("91310112MA1GBX2L4")


def _borrowers_csv(bank: Bank, rows: list[str]) -> str:
    return "branch_code,name,credit_code,address\n" + "\n".join(rows) + "\n"


def _post(client: TestClient, bank: Bank, kind: str, text: str, **params: str) -> dict[str, object]:
    response = client.post(
        f"/api/v1/imports/{kind}",
        content=text.encode(),
        params=params,
        headers={**login(client, bank.one.admin), "Content-Type": "text/csv"},
    )
    return {"status": response.status_code, **response.json()}


def _count(session: Session, model: type) -> int:
    session.rollback()  # end any open snapshot so rows committed by the API or CLI are seen
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_clean_file_imports_every_row(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    code = bank.one.branch.code
    text = _borrowers_csv(bank, [f"{code},上海甲公司,{GOOD},上海", f"{code},上海乙公司,{OTHER},上海"])
    answer = _post(client, bank, "borrowers", text)
    assert answer["status"] == 200
    assert answer["imported"] == 2
    assert _count(session, Borrower) == 4


def test_one_bad_row_means_nothing_is_imported_and_every_bad_row_is_named(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    code = bank.one.branch.code
    text = _borrowers_csv(
        bank,
        [
            f"{code},上海甲公司,{GOOD},上海",
            f"{code},上海乙公司,{GOOD[:-1]}0,上海",  # broken check digit
            f"NOPE,上海丙公司,{OTHER},上海",  # unknown branch
            f"{code},上海丁公司,{GOOD},上海",  # same code as line 2
        ],
    )
    answer = _post(client, bank, "borrowers", text)
    assert answer["status"] == 422
    assert answer["code"] == "import_rejected"
    report = answer["report"]
    assert isinstance(report, dict)
    lines = {row["line"]: " ".join(row["errors"]) for row in report["errors"]}
    assert set(lines) == {3, 4, 5}
    assert "check digit" in lines[3]
    assert "NOPE" in lines[4]
    assert "already exists" in lines[5]
    assert _count(session, Borrower) == 2


def test_dry_run_reports_and_imports_nothing(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    text = _borrowers_csv(bank, [f"{bank.one.branch.code},上海甲公司,{GOOD},上海"])
    answer = _post(client, bank, "borrowers", text, dry_run="true")
    assert answer["status"] == 200
    assert answer["dry_run"] is True
    assert answer["imported"] == 0
    assert _count(session, Borrower) == 2


def test_gb18030_files_from_chinese_excel_are_read(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    text = _borrowers_csv(bank, [f"{bank.one.branch.code},苏州精工机械有限公司,{GOOD},苏州"])
    response = client.post(
        "/api/v1/imports/borrowers",
        content=text.encode("gb18030"),
        headers={**login(client, bank.one.admin), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200
    assert session.scalar(select(Borrower.name).where(Borrower.credit_code == GOOD)) == "苏州精工机械有限公司"


def test_facilities_collateral_and_declarations_import_by_reference(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    credit = bank.one.borrower.credit_code
    manager = bank.one.manager.username
    facilities = (
        "reference,borrower_credit_code,kind,amount,currency,disbursed_on,matures_on,risk_grade,manager_username\n"
        f"LN-IMP-1,{credit},corporate_loan,1500000.50,CNY,2026-01-10,2029-01-10,special_mention,{manager}\n"
    )
    assert _post(client, bank, "facilities", facilities)["status"] == 200
    collateral = (
        "reference,facility_reference,kind,description,site_lat,site_lon,site_datum,address,declared_value,"
        "quantity,unit,identifiers\n"
        "COL-IMP-1,LN-IMP-1,equipment,数控机床,31.2,121.5,GCJ02,上海,800000,4,台,serial=A1;model=DMU\n"
    )
    assert _post(client, bank, "collateral", collateral)["status"] == 200
    declarations = (
        "subject_type,subject_reference,field,value_number,value_text,unit,declared_on\n"
        "collateral,COL-IMP-1,quantity,4,,台,2026-02-01\n"
        "facility,LN-IMP-1,operating_status,,正常经营,,2026-02-01\n"
    )
    assert _post(client, bank, "declarations", declarations)["status"] == 200
    facility = session.scalar(select(Facility).where(Facility.reference == "LN-IMP-1"))
    assert facility is not None and str(facility.amount) == "1500000.5"
    item = session.scalar(select(Collateral).where(Collateral.reference == "COL-IMP-1"))
    assert item is not None and item.identifiers == {"serial": "A1", "model": "DMU"}
    assert _count(session, Declaration) == 2


def test_a_manager_of_another_branch_cannot_be_given_a_facility(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    rows = (
        "reference,borrower_credit_code,kind,amount,matures_on,manager_username\n"
        f"LN-X,{bank.one.borrower.credit_code},corporate_loan,100,2030-01-01,{bank.two.manager.username}\n"
    )
    answer = _post(client, bank, "facilities", rows)
    assert answer["status"] == 422


def test_garbage_files_are_refused_cleanly(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    assert _post(client, bank, "borrowers", "")["status"] == 422
    assert _post(client, bank, "nonsense", "a,b\n1,2\n")["status"] == 404
    response = client.post(
        "/api/v1/imports/borrowers",
        content=b"\xff\xfe\x00\x81\x00garbage",
        headers={**login(client, bank.one.admin), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    wide = _borrowers_csv(bank, [f"{bank.one.branch.code},甲,{GOOD},上海,extra,columns"])
    assert _post(client, bank, "borrowers", wide)["status"] == 422
    assert _count(session, Borrower) == 2


def test_only_admins_import(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    response = client.post(
        "/api/v1/imports/borrowers", content=b"a\n", headers=login(client, bank.one.reviewer)
    )
    assert response.status_code == 403


def test_cli_import_and_dry_run(session: Session, settings: Settings, tmp_path: Path) -> None:
    bank = make_bank(session)
    good = tmp_path / "good.csv"
    good.write_text(
        _borrowers_csv(bank, [f"{bank.one.branch.code},上海甲公司,{GOOD},上海"]), encoding="utf-8"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(_borrowers_csv(bank, [f"{bank.one.branch.code},上海乙公司,123,上海"]), encoding="utf-8")
    env = {"FIELDVISIT_DATABASE_URL": settings.database_url}
    runner = CliRunner()
    previous = dict(os.environ)
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        dry = runner.invoke(main, ["import", "borrowers", str(good), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "dry run" in dry.output
        assert _count(session, Borrower) == 2
        failed = runner.invoke(main, ["import", "borrowers", str(bad)])
        assert failed.exit_code == 1
        assert "line 2" in failed.output
        ok = runner.invoke(main, ["import", "borrowers", str(good)])
        assert ok.exit_code == 0, ok.output
        assert _count(session, Borrower) == 3
    finally:
        os.environ.clear()
        os.environ.update(previous)
        get_settings.cache_clear()


def test_sign_ins_go_on_while_a_large_file_is_imported(client: TestClient, session: Session) -> None:
    """The file is checked on a read-only snapshot and written in one short bulk transaction, so other
    writers (a sign-in writes its token and audit event) are never locked out."""
    import threading

    from tests.factories import PASSWORD, credit_code, make_user

    bank = make_bank(session)
    extra = make_user(session, branch=bank.one.branch)
    session.commit()
    lines = ["branch_code,name,credit_code"] + [
        f"{bank.one.branch.code},批量企业{n},{credit_code()}" for n in range(5000)
    ]
    admin = login(client, bank.one.admin)
    answers: list[int] = []

    def run_import() -> None:
        answer = client.post(
            "/api/v1/imports/borrowers",
            content="\n".join(lines).encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        answers.append(answer.status_code)

    worker = threading.Thread(target=run_import)
    worker.start()
    sign_ins = []
    while worker.is_alive() or not sign_ins:
        sign_ins.append(
            client.post(
                "/api/v1/auth/token", data={"username": extra.username, "password": PASSWORD}
            ).status_code
        )
    worker.join()
    assert answers == [200]
    assert set(sign_ins) == {200}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Borrower)) == 5002


def test_imported_rows_carry_audit_events_that_verify(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    from api.audit import service as audit
    from api.audit.models import AuditEvent
    from tests.factories import credit_code

    bank = make_bank(session)
    lines = ["branch_code,name,credit_code"] + [
        f"{bank.one.branch.code},审计企业{n},{credit_code()}" for n in range(30)
    ]
    answer = client.post(
        "/api/v1/imports/borrowers",
        content="\n".join(lines).encode(),
        headers={**login(client, bank.one.admin), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    audit.seal(app.state.engine)
    session.rollback()
    created = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "borrower", AuditEvent.action == "created")
    ).all()
    assert len(created) == 32
    assert sum(event.actor_id == bank.one.admin.id for event in created) == 30
    assert audit.verify(session).ok


def test_no_write_lock_is_held_while_a_file_is_checked(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a write transaction locks the whole database: while the import checks its rows, another
    writer must get the lock at once. (`imports.run` is what the API runs in its child process.)"""
    import sqlite3

    from api.portfolio import imports
    from tests.factories import credit_code

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks rows, not the database")
    bank = make_bank(session)
    checked = imports.prepare
    others: list[str] = []

    def prepare_while_someone_writes(*args: Any, **kwargs: Any) -> imports.PreparedImport:
        other = sqlite3.connect(
            settings.database_url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None
        )
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            others.append("wrote")
        except sqlite3.OperationalError as exc:
            others.append(str(exc))
        finally:
            other.close()
        return checked(*args, **kwargs)

    monkeypatch.setattr(imports, "prepare", prepare_while_someone_writes)
    lines = ["branch_code,name,credit_code", f"{bank.one.branch.code},锁测试企业,{credit_code()}"]
    report = imports.run(
        settings.database_url, kind="borrowers", text="\n".join(lines), actor_id=bank.one.admin.id,
        dry_run=False, now=utcnow(),
    )  # fmt: skip
    assert report.imported == 1 and not report.errors
    assert others == ["wrote"]


def test_bulk_ids_are_uuid7_increasing_and_carry_the_instant() -> None:
    import datetime as dt
    import uuid

    from api.db import ordered_ids

    now = dt.datetime(2026, 11, 30, 3, 0, 0, 123000, tzinfo=dt.UTC)
    ids = ordered_ids(now)
    batch = [next(ids) for _ in range(5000)]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 and i.variant == uuid.RFC_4122 for i in batch)
    assert batch == sorted(batch) and len(set(batch)) == 5000
    assert [str(i) for i in batch] == sorted(str(i) for i in batch)  # SQLite keeps them as text
    assert {i.int >> 80 for i in batch} == {int(now.timestamp() * 1000)}
    assert next(ordered_ids(now)) != next(ordered_ids(now))  # a random start per batch


def test_a_record_created_between_check_and_write_fails_the_whole_write(
    session: Session, settings: Settings, app: FastAPI
) -> None:
    """The write after the check is all or nothing: a key someone else created in between is 409
    import_raced, nothing of the file is stored, and (SQLite) the lock is not left held."""
    import sqlite3

    from api.portfolio import imports
    from api.portfolio import schemas as portfolio_schemas
    from api.portfolio import service as portfolio_service
    from tests.factories import credit_code

    bank = make_bank(session)
    branch = bank.one.branch.code
    taken = credit_code()
    text = _borrowers_csv(
        bank, [f"{branch},先到企业,{credit_code()},地址", f"{branch},后到企业,{taken},地址"]
    )
    session.commit()
    with app.state.read_sessionmaker() as snapshot:
        prepared = imports.prepare(snapshot, kind="borrowers", text=text, now=utcnow())
    assert not prepared.errors
    # Someone else creates one of the file's borrowers after the check.
    portfolio_service.create_borrower(
        session, data=portfolio_schemas.BorrowerCreate(branch_code=branch, name="抢先企业", credit_code=taken)
    )
    session.commit()
    before = _count(session, Borrower)
    engine = app.state.engine
    with pytest.raises(imports.ImportRaced):
        if engine.dialect.name == "sqlite":
            imports.write_staged_sqlite(engine, imports.driver_rows(engine.dialect, prepared))
        else:
            with app.state.sessionmaker() as writer:
                imports.write(writer, prepared)
                writer.commit()
    assert _count(session, Borrower) == before
    if engine.dialect.name == "sqlite":
        other = sqlite3.connect(
            settings.database_url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None
        )
        other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the failed write kept the lock
        other.execute("ROLLBACK")
        other.close()
