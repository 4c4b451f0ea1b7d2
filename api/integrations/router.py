"""Service accounts and API keys (admin), and webhook subscriptions with their delivery log."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter

from api.auth.dependencies import AdminUser
from api.auth.models import User
from api.db import CommitFirstRoute, SessionDep
from api.integrations import accounts, schemas
from api.integrations.models import ApiKey, ServiceAccount

router = APIRouter(prefix="/api/v1", tags=["integrations"], route_class=CommitFirstRoute)


def _account_public(account: ServiceAccount, user: User) -> schemas.ServiceAccountPublic:
    return schemas.ServiceAccountPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        description=account.description,
        scopes=account.scopes,
        branch_ids=None if account.branch_ids is None else [uuid.UUID(b) for b in account.branch_ids],
        is_active=user.is_active,
        created_at=account.created_at,
    )


def _key_public(key: ApiKey) -> schemas.ApiKeyPublic:
    return schemas.ApiKeyPublic.model_validate(key, from_attributes=True)


def _key_issued(key: ApiKey, secret: str) -> schemas.ApiKeyIssued:
    return schemas.ApiKeyIssued(**_key_public(key).model_dump(), key=secret)


@router.post(
    "/service-accounts",
    response_model=schemas.ServiceAccountPublic,
    status_code=201,
    summary="Create a service account (admin)",
)
def create_service_account(
    body: schemas.ServiceAccountCreate, admin: AdminUser, session: SessionDep
) -> schemas.ServiceAccountPublic:
    """A system of the bank that reads through the API with the scopes given, in the branches given (or
    the whole bank). It can never sign in with a password nor act as a manager, reviewer or admin."""
    account = accounts.create_service_account(
        session,
        admin=admin,
        username=body.username,
        display_name=body.display_name,
        description=body.description,
        scopes=body.scopes,
        branch_codes=body.branch_codes,
    )
    return _account_public(*accounts.get_service_account(session, account_id=account.user_id))


@router.get(
    "/service-accounts", response_model=list[schemas.ServiceAccountPublic], summary="Service accounts (admin)"
)
def list_service_accounts(admin: AdminUser, session: SessionDep) -> list[schemas.ServiceAccountPublic]:
    return [_account_public(account, user) for account, user in accounts.list_service_accounts(session)]


@router.get(
    "/service-accounts/{account_id}", response_model=schemas.ServiceAccountPublic, summary="A service account"
)
def get_service_account(
    account_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> schemas.ServiceAccountPublic:
    return _account_public(*accounts.get_service_account(session, account_id=account_id))


@router.patch(
    "/service-accounts/{account_id}",
    response_model=schemas.ServiceAccountPublic,
    summary="Change scopes, branches or state (admin)",
)
def update_service_account(
    account_id: uuid.UUID, body: schemas.ServiceAccountUpdate, admin: AdminUser, session: SessionDep
) -> schemas.ServiceAccountPublic:
    """What is taken away (a scope, a branch, `is_active: false`) holds from the next request of tokens
    already issued."""
    account, user = accounts.get_service_account(session, account_id=account_id)
    accounts.update_service_account(
        session, account=account, user=user, changes=body.model_dump(include=body.model_fields_set)
    )
    return _account_public(account, user)


@router.post(
    "/service-accounts/{account_id}/keys",
    response_model=schemas.ApiKeyIssued,
    status_code=201,
    summary="Issue an API key (shown once)",
)
def issue_key(
    account_id: uuid.UUID, body: schemas.ApiKeyCreate, admin: AdminUser, session: SessionDep
) -> schemas.ApiKeyIssued:
    account, _user = accounts.get_service_account(session, account_id=account_id)
    expires_at = body.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    key, secret = accounts.issue_key(
        session, account=account, actor=admin, name=body.name, expires_at=expires_at
    )
    return _key_issued(key, secret)


@router.get(
    "/service-accounts/{account_id}/keys",
    response_model=list[schemas.ApiKeyPublic],
    summary="A service account's keys (never their secrets)",
)
def list_keys(account_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> list[schemas.ApiKeyPublic]:
    account, _user = accounts.get_service_account(session, account_id=account_id)
    return [_key_public(key) for key in accounts.list_keys(session, account=account)]


@router.post(
    "/service-accounts/{account_id}/keys/{key_id}/rotate",
    response_model=schemas.ApiKeyIssued,
    status_code=201,
    summary="Rotate a key: a new one now, the old one ends after the overlap",
)
def rotate_key(
    account_id: uuid.UUID,
    key_id: uuid.UUID,
    body: schemas.ApiKeyRotate,
    admin: AdminUser,
    session: SessionDep,
) -> schemas.ApiKeyIssued:
    account, _user = accounts.get_service_account(session, account_id=account_id)
    key = accounts.get_key(session, account=account, key_id=key_id)
    new_key, secret = accounts.rotate_key(
        session, account=account, key=key, actor=admin, overlap=dt.timedelta(hours=body.overlap_hours)
    )
    return _key_issued(new_key, secret)


@router.post(
    "/service-accounts/{account_id}/keys/{key_id}/revoke",
    response_model=schemas.ApiKeyPublic,
    summary="Revoke a key: it and its access tokens stop at once",
)
def revoke_key(
    account_id: uuid.UUID, key_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> schemas.ApiKeyPublic:
    account, _user = accounts.get_service_account(session, account_id=account_id)
    key = accounts.get_key(session, account=account, key_id=key_id)
    accounts.revoke_key(session, key=key)
    return _key_public(key)
