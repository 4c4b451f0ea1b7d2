"""Sign-in, token refresh and revocation, the caller's profile, and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from api.auth import service
from api.auth.dependencies import AdminUser, CurrentUser, SettingsDep
from api.auth.models import Branch, User
from api.auth.schemas import BranchPublic, RefreshIn, TokenOut, UserCreate, UserPublic
from api.db import CommitFirstRoute, SessionDep

router = APIRouter(prefix="/api/v1", tags=["auth"], route_class=CommitFirstRoute)


def _token_out(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
    )


@router.post("/auth/token", response_model=TokenOut, summary="Sign in (OAuth2 password flow)")
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> TokenOut:
    """Returns a short-lived access token and a long-lived, single-use refresh token. Five wrong passwords
    for one username within 15 minutes (twenty from one address) block sign-in for that username
    (address) with 429 and `Retry-After`: one minute, doubling with each block, at most an hour."""
    address = request.client.host if request.client else None
    with request.app.state.read_sessionmaker() as snapshot:
        checked = service.check_password(
            snapshot, username=form.username, password=form.password, address=address
        )
    _user, pair = service.sign_in(
        session, settings, username=form.username, password=form.password, address=address, checked=checked
    )
    response.headers["Cache-Control"] = "no-store"
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
def me(user: CurrentUser) -> User:
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
        role=body.role,
        branch_id=branch.id,
        display_name=body.display_name,
    )
