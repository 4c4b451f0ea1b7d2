"""Who is calling: the bearer token's user, loaded fresh so a deactivated user is cut off at once.

People act by their role. A service account (another system of the bank) acts only through the endpoints
that name a scope with `reader(...)`, and only with that scope granted: everywhere else `CurrentUser`
refuses it, so a new endpoint is closed to systems until it says otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.exceptions import TokenInvalid
from api.auth.models import RevokedSession, Role, User
from api.auth.security import read_access_token
from api.config import Settings
from api.db import SessionDep
from api.errors import Forbidden
from api.integrations.models import Scope, ServiceAccount

# Where a request's session keeps the scopes of the system calling (set by `caller`).
SCOPES = "scopes"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


# The user and whether the token's session was revoked, in one statement: this runs on every request, so it is
# built once (building a statement and its cache key costs more than running this one).
_USER_AND_REVOCATION = (
    select(User, col(RevokedSession.family_id))
    .outerjoin(RevokedSession, col(RevokedSession.family_id) == bindparam("session_id"))
    .where(col(User.id) == bindparam("user_id"))
)


def caller(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The person or system the bearer token names, whoever it is."""
    if not token:
        raise TokenInvalid("Send an access token as 'Authorization: Bearer …'.", detail_zh="请携带访问令牌。")
    claims = read_access_token(settings, token)
    if claims is None:
        raise TokenInvalid()
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        session_id = uuid.UUID(str(claims["sid"]))
    except ValueError as exc:
        raise TokenInvalid() from exc
    found = session.execute(_USER_AND_REVOCATION, {"user_id": user_id, "session_id": session_id}).first()
    if found is None or found[1] is not None or not found[0].is_active:
        raise TokenInvalid()
    user: User = found[0]
    session.info["actor_id"] = user.id  # the audit trail's "who"
    if user.role == Role.service:
        account = session.get(ServiceAccount, user.id)
        # What the token was given, less whatever the admin has taken away since.
        granted = set(str(claims.get("scope", "")).split()) & set(account.scopes if account else ())
        session.info[SCOPES] = frozenset(granted)
    return user


Caller = Annotated[User, Depends(caller)]


async def current_user(user: Caller) -> User:
    # Async: a pure check, run without a hop to the threadpool (api/db.py, get_session).
    if user.role == Role.service:
        raise Forbidden(
            "Service accounts read through the endpoints their scopes name; this one is for people.",
            detail_zh="服务账号只能调用其权限范围内的接口；此接口仅供人员使用。",
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def granted(session: Session, scope: Scope) -> bool:
    """Does the system calling hold `scope` (its token's scopes, less any taken away since)?"""
    return scope.value in session.info.get(SCOPES, frozenset())


def reader(scope: Scope) -> Callable[[User, Session], Coroutine[Any, Any, User]]:
    """People pass (their role and scope functions decide what they see); a system needs `scope`."""

    async def check(user: Caller, session: SessionDep) -> User:  # a pure check: no threadpool hop
        if user.role == Role.service and not granted(session, scope):
            raise Forbidden(
                f"This needs the scope {scope.value}.", detail_zh=f"此操作需要权限范围 {scope.value}。"
            )
        return user

    return check


VisitsReader = Annotated[User, Depends(reader(Scope.visits_read))]
PhotosReader = Annotated[User, Depends(reader(Scope.photos_read))]
TasksReader = Annotated[User, Depends(reader(Scope.tasks_read))]
PortfolioReader = Annotated[User, Depends(reader(Scope.portfolio_read))]
ExportsReader = Annotated[User, Depends(reader(Scope.exports_read))]
CasesReader = Annotated[User, Depends(reader(Scope.cases_read))]


def require_roles(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    async def check(user: CurrentUser) -> User:  # a pure check: no threadpool hop
        if user.role not in roles:
            raise Forbidden(
                f"This needs the role {' or '.join(r.value for r in roles)}.",
                detail_zh="当前角色无权执行此操作。",
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
StaffUser = Annotated[User, Depends(require_roles(Role.reviewer, Role.admin))]
# Who watches the branch's risk without reviewing visits: the dashboard is theirs too.
OversightUser = Annotated[
    User, Depends(require_roles(Role.reviewer, Role.admin, Role.risk_officer, Role.compliance_officer))
]
