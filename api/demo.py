"""A small, realistic demo bank: two branches, five users, a portfolio, two templates, visits.

Loaded by `fieldvisit demo` (and `make run` on first start). Dates are relative to today in the
bank's zone, so the demo always has visits due today and one overdue per manager.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth import service as auth_service
from api.auth.models import Role
from api.checklists import service as checklist_service
from api.checklists.schemas import Definition, TemplateCreate
from api.config import Settings
from api.kit.clock import today_in
from api.portfolio import schemas as ps
from api.portfolio import service as portfolio_service
from api.portfolio.credit_code import complete
from api.portfolio.models import SubjectType
from api.visits import service as visit_service

D = decimal.Decimal


def _item(key: str, type_: str, zh: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "type": type_, "label_zh": zh, "label_en": en, **extra}


def _expect(expected: Any, severity: str = "major") -> dict[str, Any]:
    return {"key": "expected_answer", "severity": severity, "params": {"expected": expected}}


COLLATERAL_TEMPLATE = {
    "sections": [
        {
            "key": "site",
            "title_zh": "现场核实",
            "title_en": "On site",
            "items": [
                _item(
                    "check_in",
                    "location",
                    "签到定位",
                    "Check-in location",
                    help_zh="到达押品所在地后签到；精度差于 100 米时请到开阔处重试",
                    help_en="Check in at the collateral; with an accuracy worse than 100 m, move into the open",
                    rule={"key": "site_distance", "params": {}},
                ),
                _item(
                    "collateral_present",
                    "boolean",
                    "押品是否在场",
                    "Collateral present",
                    rule=_expect(True, "critical"),
                ),
                _item(
                    "condition",
                    "choice",
                    "押品状况",
                    "Condition of the collateral",
                    choices=[
                        {"value": "good", "label_zh": "良好", "label_en": "Good"},
                        {"value": "fair", "label_zh": "一般", "label_en": "Fair"},
                        {"value": "poor", "label_zh": "较差", "label_en": "Poor"},
                        {"value": "damaged", "label_zh": "损毁", "label_en": "Damaged"},
                    ],
                    rule=_expect(["good", "fair"]),
                ),
                _item(
                    "seizure_notice",
                    "boolean",
                    "是否张贴查封/扣押公告",
                    "Seizure notice posted",
                    rule=_expect(False, "critical"),
                ),
                _item(
                    "third_party_occupation",
                    "boolean",
                    "是否被第三方占用",
                    "Occupied by a third party",
                    rule=_expect(False),
                ),
                _item(
                    "occupant",
                    "text",
                    "占用方及占用情况",
                    "Who occupies it, and how",
                    help_zh="占用方名称、占用范围、是否有租赁合同",
                    help_en="The occupant's name, what they use, whether there is a lease",
                    visible_if={"all": [{"item": "third_party_occupation", "op": "equals", "value": True}]},
                ),
                _item(
                    "site_operating",
                    "boolean",
                    "企业是否正常经营",
                    "Business operating normally",
                    rule=_expect(True),
                ),
            ],
        },
        {
            "key": "quantity",
            "title_zh": "数量核对",
            "title_en": "Quantity",
            "items": [
                _item(
                    "observed_quantity",
                    "number",
                    "实盘数量",
                    "Observed quantity",
                    help_zh="清点现场实物数量，单位与申报数据一致",
                    help_en="Count what is there, in the unit of the declared figure",
                    min=0,
                    binds_to="quantity",
                    rule={
                        "key": "value_tolerance",
                        "severity": "major",
                        "params": {"mode": "relative", "tolerance": 0.1, "sides": "below"},
                    },
                ),
            ],
        },
        {
            "key": "evidence",
            "title_zh": "影像资料",
            "title_en": "Evidence",
            "items": [
                _item(
                    "photo_overview",
                    "photo",
                    "押品全景",
                    "Overview of the collateral",
                    help_zh="至少 2 张，从不同角度拍下押品全貌",
                    help_en="At least 2: the whole collateral, from different sides",
                    min_photos=2,
                    max_photos=10,
                    rule={"key": "photo_location", "params": {}},
                ),
                _item(
                    "photo_identifier",
                    "photo",
                    "铭牌或权属证明",
                    "Nameplate or title document",
                    help_zh="设备铭牌、产权证或不动产登记证明",
                    help_en="The machine's nameplate, the title deed or the land registration certificate",
                    min_photos=1,
                    max_photos=5,
                    rule={"key": "required_evidence", "params": {}},
                ),
                _item(
                    "identifier_read",
                    "barcode",
                    "铭牌或证书编号",
                    "Nameplate or certificate number",
                    help_zh="扫描或输入铭牌序列号、产权证号或车架号，与申报信息核对",
                    help_en="Scan or type the serial, title or VIN number: it is checked against the declared one",
                    required=False,
                    rule={"key": "identifier_match", "params": {}},
                ),
                _item(
                    "security_measures",
                    "multi_choice",
                    "现场安防措施",
                    "Security on site",
                    required=False,
                    choices=[
                        {"value": "access_control", "label_zh": "门禁", "label_en": "Access control"},
                        {"value": "cctv", "label_zh": "监控", "label_en": "CCTV"},
                        {"value": "fence", "label_zh": "围栏", "label_en": "Fence"},
                        {"value": "guard", "label_zh": "值守人员", "label_en": "Guard"},
                    ],
                ),
                _item(
                    "insured_until",
                    "date",
                    "保险到期日",
                    "Insurance valid until",
                    help_zh="以保险单为准；无保险请留空并在说明中注明",
                    help_en="As on the policy; leave empty and say why in a note if uninsured",
                    required=False,
                ),
                _item(
                    "borrower_ack",
                    "signature",
                    "借款人代表签字确认",
                    "Borrower's representative signs",
                    help_zh="请借款人在场代表在屏幕上签字，确认本次现场检查",
                    help_en="The borrower's representative on site signs on the screen to acknowledge the visit",
                    required=False,
                ),
                _item("remarks", "text", "其他情况说明", "Other observations", required=False),
            ],
        },
        {
            # One card per machine declared (the collateral's 设备序列号 lists them): "设备 4/6 · …".
            "key": "units",
            "title_zh": "逐台核查",
            "title_en": "Unit by unit",
            "repeat": {"over": "设备序列号", "label_zh": "设备", "label_en": "Machine"},
            "items": [
                _item(
                    "unit_present",
                    "boolean",
                    "设备在位",
                    "The machine is there",
                    required=False,
                    rule={"key": "expected_answer", "params": {"expected": True}},
                ),
                _item(
                    "unit_serial",
                    "barcode",
                    "铭牌序列号",
                    "Serial on the nameplate",
                    help_zh="扫描或输入该设备铭牌上的序列号，与申报的该台设备核对",
                    help_en="Scan or type this machine's serial: it is checked against this machine's declared one",
                    required=False,
                    rule={"key": "identifier_match", "params": {"identifier": "设备序列号"}},
                ),
                _item("unit_running", "boolean", "运转正常", "Running normally", required=False),
                _item(
                    "unit_photo", "photo", "设备照片", "Photo of the machine", required=False, max_photos=3
                ),
            ],
        },
    ]
}

# Two years of quarterly figures per borrower (万元 → yuan), and the core-banking extract of today. 苏州吴中新材料
# has lost a third of its revenue on last year and borrowed more: two early-warning signals on loading.
FIGURES = {
    # revenue per quarter two years ago, growth per year, liabilities over assets, trouble in the last 2 quarters
    "上海华锦精密机械有限公司": (5200, 0.08, 0.52, False),
    "上海东岳食品贸易有限公司": (2600, 0.03, 0.61, False),
    "上海浦江城建发展有限公司": (9800, 0.05, 0.66, False),
    "苏州吴中新材料科技有限公司": (7400, 0.06, 0.58, True),
    "苏州宏图冷链物流有限公司": (3100, 0.10, 0.49, False),
}


def _quarters_before(today: dt.date, count: int) -> list[str]:
    """The last `count` quarters that ended before today, oldest first."""
    year, quarter = today.year, (today.month - 1) // 3  # the quarter before this one
    if quarter == 0:
        year, quarter = year - 1, 4
    found = []
    for _ in range(count):
        found.append(f"{year}Q{quarter}")
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
    return list(reversed(found))


def _monitoring(session: Session, *, settings: Settings, today: dt.date, code: dict[str, str]) -> None:
    from api.monitoring import periods
    from api.monitoring import schemas as ms
    from api.monitoring import service as monitoring
    from api.portfolio.models import Borrower

    quarters = _quarters_before(today, 8)
    for name, (base, growth, leverage, trouble) in FIGURES.items():
        borrower = session.scalar(select(Borrower).where(Borrower.credit_code == code[name]))
        assert borrower is not None
        for n, quarter in enumerate(quarters):
            revenue = base * (1 + growth) ** (n / 4) * (0.62 if trouble and n >= 6 else 1)
            gearing = leverage + (0.25 if trouble and n >= 6 else 0)
            assets = base * 6
            flow = revenue * (-0.04 if trouble and n >= 6 else 0.09)
            reported = min(today, periods.period_end(quarter) + dt.timedelta(days=25))
            monitoring.add_figures(
                session,
                borrower=borrower,
                data=ms.FiguresIn(
                    period=quarter, revenue=D(round(revenue * 10_000)), net_profit=D(round(revenue * 600)),
                    operating_cash_flow=D(round(flow * 10_000)), accounts_receivable=D(round(revenue * 3_500)),
                    total_liabilities=D(round(assets * gearing * 10_000)), total_assets=D(round(assets * 10_000)),
                    headcount=int(base / 20), source="季度财务报表", reported_on=reported,
                ),
            )  # fmt: skip
    monitoring.evaluate(session, settings=settings)


def _case_and_contact(session: Session, *, settings: Settings, today: dt.date, code: dict[str, str]) -> None:
    """吴中新材料 in trouble: last week's meeting with its finance director (a commitment, so a task), and the
    restructuring its manager proposed from the revenue signal, waiting for the branch's review."""
    from api.auth.models import User
    from api.cases import schemas as cs
    from api.cases import service as cases
    from api.contacts import schemas as contact_schemas
    from api.contacts import service as contacts
    from api.monitoring.models import BorrowerFigures, Signal
    from api.portfolio.models import Borrower, Facility

    borrower = session.scalar(
        select(Borrower).where(Borrower.credit_code == code["苏州吴中新材料科技有限公司"])
    )
    manager = session.scalar(select(User).where(User.username == "manager2"))
    assert borrower is not None and manager is not None
    facility = session.scalar(
        select(Facility).where(Facility.borrower_id == borrower.id).order_by(col(Facility.reference))
    )
    signal = session.scalar(
        select(Signal).where(Signal.borrower_id == borrower.id, Signal.indicator == "revenue_drop")
    )
    latest = session.scalar(
        select(BorrowerFigures.id)
        .where(BorrowerFigures.borrower_id == borrower.id)
        .order_by(col(BorrowerFigures.period_end).desc())
    )
    assert facility is not None and signal is not None and latest is not None
    met = dt.datetime.combine(
        today - dt.timedelta(days=6), dt.time(10, 0), tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    contacts.record(
        session,
        user=manager,
        contact_id=uuid.UUID("7b0c2f3e-5d1a-4c8e-9f60-2a1b3c4d5e01"),
        body=contact_schemas.ContactIn(
            borrower_id=borrower.id,
            occurred_at=met,
            channel="meeting",
            people=[{"name": "沈国华", "title": "财务总监"}, {"name": "吴敏", "title": "总经理"}],
            summary="三季度销售收入同比下降约四成，主要客户订单推迟；企业称正与两家客户谈新订单，计划出售闲置设备回笼资金。",
            commitments=[
                {"text": "提供三季度管理层报表及在手订单清单", "due_on": today + dt.timedelta(days=8)}
            ],
        ),
    )
    draft = cs.CaseDraft(
        kind="restructuring",
        borrower_id=borrower.id,
        facility_id=facility.id,
        title="苏州吴中新材料 贷款重组申请",
        reason="营业收入同比下降约四成、经营现金流连续为负，企业申请调整还款计划。",
        terms=cs.RequestedTerms(repayment_plan="剩余本金分 8 个季度偿还，首年按季付息", grace_months=6),
        origin_type="signal",
        origin_id=signal.id,
        supporting_figure_ids=[latest],
    )
    case, _ = cases.put_draft(
        session,
        user=manager,
        today=today,
        case_id=uuid.UUID("5c1d7a20-3e4b-4f6a-8b9c-0d1e2f3a4b01"),
        data=draft,
    )
    cases.act(session, user=manager, case=case, data=cs.CaseAction(action="submit"))


PROJECT_TEMPLATE = {
    "sections": [
        {
            "key": "site",
            "title_zh": "现场核实",
            "title_en": "On site",
            "items": [
                _item(
                    "check_in",
                    "location",
                    "签到定位",
                    "Check-in location",
                    rule={"key": "site_distance", "params": {}},
                ),
                _item(
                    "construction_active",
                    "boolean",
                    "现场是否正常施工",
                    "Construction under way",
                    rule=_expect(True),
                ),
                _item(
                    "crane_in_use",
                    "boolean",
                    "塔吊是否在用",
                    "Tower crane in use",
                    visible_if={"all": [{"item": "construction_active", "op": "equals", "value": True}]},
                ),
                _item(
                    "safety_issue",
                    "boolean",
                    "是否存在停工或安全隐患",
                    "Work stoppage or safety hazard",
                    rule=_expect(False, "critical"),
                ),
            ],
        },
        {
            "key": "progress",
            "title_zh": "工程进度",
            "title_en": "Progress",
            "items": [
                _item(
                    "progress_pct",
                    "number",
                    "实际形象进度",
                    "Observed progress",
                    unit="%",
                    min=0,
                    max=100,
                    binds_to="progress_pct",
                    rule={
                        "key": "value_tolerance",
                        "severity": "major",
                        "params": {"mode": "absolute", "tolerance": 10, "sides": "below"},
                    },
                ),
                _item(
                    "stage",
                    "choice",
                    "当前施工阶段",
                    "Current construction stage",
                    choices=[
                        {"value": "foundation", "label_zh": "基础施工", "label_en": "Foundation"},
                        {"value": "structure", "label_zh": "主体结构", "label_en": "Structure"},
                        {"value": "envelope", "label_zh": "外立面/屋面", "label_en": "Envelope and roof"},
                        {"value": "fit_out", "label_zh": "装饰装修", "label_en": "Fit-out"},
                        {"value": "completed", "label_zh": "竣工", "label_en": "Completed"},
                    ],
                ),
                _item(
                    "workers_on_site",
                    "integer",
                    "现场施工人数",
                    "Workers on site",
                    unit="人",
                    min=0,
                    binds_to="workers_on_site",
                    rule={
                        "key": "value_tolerance",
                        "severity": "minor",
                        "params": {"mode": "relative", "tolerance": 0.5, "sides": "below"},
                    },
                ),
            ],
        },
        {
            "key": "evidence",
            "title_zh": "影像资料",
            "title_en": "Evidence",
            "items": [
                _item(
                    "photo_site",
                    "photo",
                    "施工现场",
                    "Construction site",
                    min_photos=3,
                    max_photos=12,
                    rule={"key": "photo_location", "params": {}},
                ),
                _item(
                    "photo_board",
                    "photo",
                    "项目公示牌",
                    "Project sign board",
                    min_photos=1,
                    max_photos=3,
                    rule={"key": "required_evidence", "params": {}},
                ),
                _item("remarks", "text", "其他情况说明", "Other observations", required=False),
            ],
        },
    ]
}


def load(session: Session, *, settings: Settings) -> str:
    today = today_in(settings.timezone)
    password = settings.demo_password

    def days(n: int) -> dt.date:
        return today + dt.timedelta(days=n)

    sh = auth_service.create_branch(session, code="SH01", name="上海分行")
    sz = auth_service.create_branch(session, code="SZ01", name="苏州分行")
    users = [
        ("admin", "系统管理员 Admin", Role.admin, sh),
        ("reviewer1", "王敏 (贷后管理部)", Role.reviewer, sh),
        ("manager1", "李强 (客户经理)", Role.manager, sh),
        ("reviewer2", "陈静 (贷后管理部)", Role.reviewer, sz),
        ("manager2", "张伟 (客户经理)", Role.manager, sz),
        ("risk2", "赵磊 (风险管理部)", Role.risk_officer, sz),
        ("compliance2", "孙丽 (法律合规部)", Role.compliance_officer, sz),
    ]
    for username, name, role, branch in users:
        auth_service.create_user(
            session, username=username, password=password, role=role, branch_id=branch.id, display_name=name
        )

    borrowers = [
        (
            "SH01",
            "上海华锦精密机械有限公司",
            "91310115MA1H7K3P5",
            "上海市浦东新区金海路1288号",
            "周建国",
            "021-58561234",
        ),
        (
            "SH01",
            "上海东岳食品贸易有限公司",
            "91310112MA1GBX2L4",
            "上海市闵行区莘庄工业区春中路368号",
            "刘芳",
            "021-64891122",
        ),
        (
            "SH01",
            "上海浦江城建发展有限公司",
            "91310000MA1FL5UT2",
            "上海市徐汇区龙腾大道2555号",
            "黄志明",
            "021-54106688",
        ),
        (
            "SZ01",
            "苏州吴中新材料科技有限公司",
            "91320506MA1MD8Q61",
            "江苏省苏州市吴中区吴中大道1699号",
            "沈晓东",
            "0512-65201888",
        ),
        (
            "SZ01",
            "苏州宏图冷链物流有限公司",
            "91320594MA1N3C7H8",
            "江苏省苏州市工业园区港田路99号",
            "吴丽娟",
            "0512-62863300",
        ),
    ]
    for branch_code, name, code17, address, contact, phone in borrowers:
        portfolio_service.create_borrower(
            session,
            data=ps.BorrowerCreate(
                branch_code=branch_code,
                name=name,
                credit_code=complete(code17),
                address=address,
                contact_name=contact,
                contact_phone=phone,
            ),
        )
    code = {name: complete(c17) for _b, name, c17, *_rest in borrowers}

    def facility(
        ref: str, borrower: str, kind: str, amount: str, disbursed: int, grade: str, manager: str
    ) -> None:
        portfolio_service.create_facility(
            session,
            data=ps.FacilityCreate(
                reference=ref,
                borrower_credit_code=code[borrower],
                kind=kind,
                amount=D(amount),
                currency="CNY",
                disbursed_on=days(disbursed),
                matures_on=days(disbursed + 3 * 365),
                risk_grade=grade,
                manager_username=manager,
            ),
        )

    # First visit is due 15 days after disbursement: -15 → due today, -20 → five days overdue.
    facility(
        "SH-LN-2026-0012", "上海华锦精密机械有限公司", "corporate_loan", "30000000", -15, "normal", "manager1"
    )
    facility(
        "SH-LN-2026-0031",
        "上海东岳食品贸易有限公司",
        "corporate_loan",
        "8000000",
        -8,
        "special_mention",
        "manager1",
    )
    facility(
        "SH-PF-2026-0003",
        "上海浦江城建发展有限公司",
        "project_finance",
        "250000000",
        -20,
        "normal",
        "manager1",
    )
    facility(
        "SZ-LN-2026-0007",
        "苏州吴中新材料科技有限公司",
        "corporate_loan",
        "45000000",
        -15,
        "normal",
        "manager2",
    )
    facility(
        "SZ-LN-2026-0019",
        "苏州宏图冷链物流有限公司",
        "corporate_loan",
        "12000000",
        -22,
        "substandard",
        "manager2",
    )

    def collateral(
        ref: str,
        fac: str,
        kind: str,
        desc: str,
        lat: float,
        lon: float,
        datum: str,
        address: str,
        value: str,
        qty: str,
        unit: str,
        ids: dict[str, str],
    ) -> None:
        portfolio_service.create_collateral(
            session,
            data=ps.CollateralCreate(
                reference=ref,
                facility_reference=fac,
                kind=kind,
                description=desc,
                site_lat=lat,
                site_lon=lon,
                site_datum=datum,
                address=address,
                declared_value=D(value),
                quantity=D(qty),
                unit=unit,
                condition="良好",
                identifiers=ids,
            ),
        )
        portfolio_service.create_declaration(
            session,
            data=ps.DeclarationCreate(
                subject_type=SubjectType.collateral,
                subject_reference=ref,
                field="quantity",
                value_number=D(qty),
                unit=unit,
                declared_on=days(-30),
                source="借款人季度报表",
            ),
        )

    collateral(
        "COL-SH-0012-01",
        "SH-LN-2026-0012",
        "real_estate",
        "厂房及办公楼 (工业用地)",
        31.2456,
        121.6283,
        "GCJ02",
        "上海市浦东新区金海路1288号",
        "52000000",
        "18650",
        "平方米",
        {"不动产权证号": "沪(2021)浦字不动产权第0123456号"},
    )
    collateral(
        "COL-SH-0012-02",
        "SH-LN-2026-0012",
        "equipment",
        "五轴联动数控加工中心 DMU 65",
        31.2449,
        121.6291,
        "WGS84",
        "上海市浦东新区金海路1288号2号车间",
        "9600000",
        "6",
        "台",
        {"设备序列号": "|".join(f"DMU65-2019-{n:04d}" for n in range(457, 463))},
    )
    collateral(
        "COL-SH-0031-01",
        "SH-LN-2026-0031",
        "inventory",
        "冷冻肉类及包装食品库存",
        31.1128,
        121.3825,
        "BD09",
        "上海市闵行区春中路368号3号冷库",
        "11000000",
        "4200",
        "箱",
        {"仓单号": "WR-2026-03381"},
    )
    collateral(
        "COL-SZ-0007-01",
        "SZ-LN-2026-0007",
        "real_estate",
        "研发楼及生产厂房",
        31.2652,
        120.6304,
        "GCJ02",
        "江苏省苏州市吴中区吴中大道1699号",
        "68000000",
        "24300",
        "平方米",
        {"不动产权证号": "苏(2020)苏州市吴中区不动产权第7012345号"},
    )
    collateral(
        "COL-SZ-0019-01",
        "SZ-LN-2026-0019",
        "vehicle",
        "冷藏运输车辆 (东风天锦)",
        31.3287,
        120.7401,
        "WGS84",
        "江苏省苏州市工业园区港田路99号停车场",
        "6400000",
        "16",
        "辆",
        {"车牌号段": "苏E·D8xxx"},
    )

    portfolio_service.create_project(
        session,
        data=ps.ProjectCreate(
            reference="PRJ-SH-0003",
            facility_reference="SH-PF-2026-0003",
            name="浦江科创园二期综合楼工程",
            site_lat=31.1669,
            site_lon=121.4600,
            site_datum="GCJ02",
            address="上海市徐汇区龙腾大道2555号地块",
        ),
    )
    for seq, name, offset, pct in [
        (1, "桩基及基础工程完工", -60, "15"),
        (2, "主体结构封顶", 45, "55"),
        (3, "外立面及屋面完工", 150, "75"),
        (4, "竣工验收", 300, "100"),
    ]:
        portfolio_service.create_milestone(
            session,
            data=ps.MilestoneCreate(
                project_reference="PRJ-SH-0003",
                seq=seq,
                name=name,
                planned_on=days(offset),
                planned_progress_pct=D(pct),
            ),
        )
    for field, number, text, unit, when in [
        ("progress_pct", "30", None, "%", -90),
        ("progress_pct", "42", None, "%", -10),
        ("workers_on_site", "180", None, "人", -10),
    ]:
        portfolio_service.create_declaration(
            session,
            data=ps.DeclarationCreate(
                subject_type=SubjectType.project,
                subject_reference="PRJ-SH-0003",
                field=field,
                value_number=D(number) if number else None,
                value_text=text,
                unit=unit,
                declared_on=days(when),
                source="项目月度进度报告",
            ),
        )
    for fac, headcount in [
        ("SH-LN-2026-0012", "320"),
        ("SH-LN-2026-0031", "85"),
        ("SZ-LN-2026-0007", "410"),
        ("SZ-LN-2026-0019", "120"),
    ]:
        facts: list[tuple[str, str | None, str | None]] = [
            ("headcount", headcount, None),
            ("operating_status", None, "正常经营"),
        ]
        for field, amount, text in facts:
            portfolio_service.create_declaration(
                session,
                data=ps.DeclarationCreate(
                    subject_type=SubjectType.facility,
                    subject_reference=fac,
                    field=field,
                    value_number=D(amount) if amount else None,
                    value_text=text,
                    declared_on=days(-30),
                    source="借款人季度报表",
                ),
            )

    for template_code, subject, zh, en, definition in [
        (
            "collateral_inspection",
            SubjectType.collateral,
            "押品现场检查",
            "Collateral inspection",
            COLLATERAL_TEMPLATE,
        ),
        (
            "project_progress",
            SubjectType.project,
            "项目进度检查",
            "Project progress inspection",
            PROJECT_TEMPLATE,
        ),
    ]:
        version = checklist_service.create_template(
            session,
            data=TemplateCreate(
                code=template_code,
                subject_type=subject,
                name_zh=zh,
                name_en=en,
                definition=Definition.model_validate(definition),
            ),
        )
        checklist_service.publish(session, version_id=version.id)

    report = visit_service.schedule(session, settings=settings, today=today)
    _monitoring(session, settings=settings, today=today, code=code)
    _case_and_contact(session, settings=settings, today=today, code=code)
    return (
        f"demo bank loaded: 2 branches, {len(users)} users, {len(borrowers)} borrowers, "
        f"{report.created} visits scheduled.\n"
        f"sign in as admin, reviewer1, manager1 (上海分行) or reviewer2, manager2, risk2, compliance2 (苏州分行) "
        f"with the password {password!r}"
    )
