"""Sign-in, token refresh and revocation, the caller's profile, and user administration."""

from __future__ import annotations

import base64
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Request, Response
from sqlmodel import select

from api.auth import service
from api.auth.dependencies import AdminUser, Caller, CurrentUser, SettingsDep
from api.auth.models import Branch, Role, User
from api.auth.schemas import BranchPublic, ClientTokenOut, RefreshIn, TokenOut, UserCreate, UserPublic
from api.db import CommitFirstRoute, SessionDep
from api.errors import Unprocessable
from api.integrations import accounts
from api.integrations.exceptions import InvalidClient

router = APIRouter(prefix="/api/v1", tags=["auth"], route_class=CommitFirstRoute)


def _token_out(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
    )


class TokenRequest:
    """The token endpoint's form: the password grant (people) or the client-credentials grant (systems,
    with an API key as `client_secret`, or in `Authorization: Basic`, as RFC 6749 allows both)."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^(password|client_credentials)$")] = "password",
        username: Annotated[str | None, Form(max_length=200)] = None,
        password: Annotated[str | None, Form(max_length=200)] = None,
        scope: Annotated[str, Form(max_length=500)] = "",
        client_id: Annotated[str | None, Form(max_length=200)] = None,
        client_secret: Annotated[str | None, Form(max_length=200)] = None,
    ) -> None:
        self.grant_type, self.username, self.password, self.scope = grant_type, username, password, scope
        self.client_id, self.client_secret = client_id, client_secret


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/auth/token",
    response_model=TokenOut | ClientTokenOut,
    summary="Sign in (OAuth2 password grant) or exchange an API key (client-credentials grant)",
)
def sign_in(
    form: Annotated[TokenRequest, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> TokenOut | ClientTokenOut:
    """**People** (`grant_type=password`): a short-lived access token and a long-lived, single-use refresh
    token. Five wrong passwords for one username within 15 minutes (twenty from one address) block sign-in
    for that username (address) with 429 and `Retry-After`: one minute, doubling with each block, at most an
    hour.

    **Systems** (`grant_type=client_credentials`): the API key as `client_secret` (or HTTP Basic with the
    key as the password) gives an access token of `access_token_minutes` at most (never past the key's
    expiry) with the service account's scopes, or those asked for in `scope`. No refresh token: exchange the
    key again."""
    response.headers["Cache-Control"] = "no-store"
    if form.grant_type == "client_credentials":
        basic = _basic_credentials(request)
        key = form.client_secret or (basic[1] if basic else None)
        if not key:
            raise InvalidClient(
                "Send the API key as client_secret.", detail_zh="请以 client_secret 提交 API 密钥。"
            )
        token = accounts.exchange(session, settings, key=key, requested=form.scope or None)
        return ClientTokenOut(
            access_token=token.access_token, expires_in=token.expires_in, scope=" ".join(token.scopes)
        )
    if form.username is None or form.password is None:
        raise Unprocessable(
            "The password grant needs username and password.", detail_zh="密码方式登录需要用户名和密码。"
        )
    address = request.client.host if request.client else None
    with request.app.state.read_sessionmaker() as snapshot:
        checked = service.check_password(
            snapshot, username=form.username, password=form.password, address=address
        )
    _user, pair = service.sign_in(
        session, settings, username=form.username, password=form.password, address=address, checked=checked
    )
    return _token_out(pair)


@router.post("/auth/refresh", response_model=TokenOut, summary="Exchange a refresh token for new tokens")
def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep, response: Response) -> TokenOut:
    """Rotates the refresh token. A retry with the same token shortly after is honoured (lost answers on
    flaky networks); a token replayed later revokes every token of that sign-in."""
    _user, pair = service.refresh(session, settings, refresh_token=body.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return _token_out(pair)


@router.post("/auth/revoke", status_code=204, summary="Sign out: revoke this refresh token's sign-in")
def revoke(body: RefreshIn, session: SessionDep) -> None:
    """Ends the sign-in: its refresh tokens and every access token it issued stop working at once."""
    service.revoke(session, refresh_token=body.refresh_token)


@router.get("/me", response_model=UserPublic, summary="The signed-in user")
def me(user: Caller) -> User:
    return user


@router.get("/branches", response_model=list[BranchPublic], summary="Branches (分支机构)")
def branches(user: CurrentUser, session: SessionDep) -> list[Branch]:
    query = select(Branch).order_by(Branch.code)
    if user.role != "admin":
        query = query.where(Branch.id == user.branch_id)
    return list(session.scalars(query))


@router.get("/users", response_model=list[UserPublic], summary="Users of the bank (admin)")
def users(admin: AdminUser, session: SessionDep) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user (admin)")
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> User:
    branch = service.get_branch_by_code(session, code=body.branch_code)
    return service.create_user(
        session,
        username=body.username,
        password=body.password,
        role=Role(body.role),
        branch_id=branch.id,
        display_name=body.display_name,
    )
