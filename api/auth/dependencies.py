"""Who is calling: the bearer token's user, loaded fresh so a deactivated user is cut off at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.auth.exceptions import TokenInvalid
from api.auth.models import RevokedSession, Role, User
from api.auth.security import read_access_token
from api.config import Settings
from api.db import SessionDep
from api.errors import Forbidden

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def current_user(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
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
    user = session.get(User, user_id)
    if user is None or not user.is_active or session.get(RevokedSession, session_id) is not None:
        raise TokenInvalid()
    session.info["actor_id"] = user.id  # the audit trail's "who"
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                f"This needs the role {' or '.join(r.value for r in roles)}.",
                detail_zh="当前角色无权执行此操作。",
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
StaffUser = Annotated[User, Depends(require_roles(Role.reviewer, Role.admin))]
