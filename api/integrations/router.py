"""Service accounts and API keys (admin), and webhook subscriptions with their delivery log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth.dependencies import AdminUser, Caller, SettingsDep, granted
from api.auth.models import Role, User
from api.db import CommitFirstRoute, SessionDep
from api.errors import Forbidden
from api.integrations import accounts, schemas, webhooks
from api.integrations.models import (
    ApiKey,
    DeliveryState,
    Scope,
    ServiceAccount,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

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
    key, secret = accounts.issue_key(
        session, account=account, actor=admin, name=body.name, expires_at=body.expires_at
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


# ---- webhooks ----


def webhook_manager(user: Caller, session: SessionDep) -> User:
    """An admin (every subscription), or a system with webhooks:manage (its own)."""
    if user.role == Role.admin:
        return user
    if user.role == Role.service and granted(session, Scope.webhooks_manage):
        return user
    raise Forbidden(
        "Webhooks are managed by an admin or a service account with webhooks:manage.",
        detail_zh="Webhook 仅可由管理员或具有 webhooks:manage 权限的服务账号管理。",
    )


WebhookManager = Annotated[User, Depends(webhook_manager)]


def _subscription_public(subscription: WebhookSubscription) -> schemas.SubscriptionPublic:
    return schemas.SubscriptionPublic.model_validate(subscription, from_attributes=True)


def valid_subscription(
    subscription_id: uuid.UUID, user: WebhookManager, session: SessionDep
) -> WebhookSubscription:
    return webhooks.get_subscription_for(session, user=user, subscription_id=subscription_id)


SubscriptionDep = Annotated[WebhookSubscription, Depends(valid_subscription)]


@router.post(
    "/webhooks",
    response_model=schemas.SubscriptionCreated,
    status_code=201,
    summary="Subscribe a destination to events (Standard Webhooks)",
)
def create_subscription(
    body: schemas.SubscriptionCreate, user: WebhookManager, session: SessionDep, settings: SettingsDep
) -> schemas.SubscriptionCreated:
    """Each event is POSTed as JSON `{type, timestamp, data}` — `data` the resource as the API returns it,
    with `links.self` — signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`) with the secret returned here once. Only events the owner may read are sent: a
    system's scopes and branches bound its subscriptions. A destination on a loopback, private or
    link-local address is refused (422 `unsafe_destination`) unless the operator allow-lists it."""
    subscription = webhooks.create_subscription(
        session,
        settings,
        owner=user,
        url=str(body.url),
        event_types=body.event_types,
        description=body.description,
    )
    return schemas.SubscriptionCreated(
        **_subscription_public(subscription).model_dump(), secret=subscription.secret
    )


@router.get("/webhooks", response_model=list[schemas.SubscriptionPublic], summary="Webhook subscriptions")
def list_subscriptions(user: WebhookManager, session: SessionDep) -> list[schemas.SubscriptionPublic]:
    query = webhooks.scope_subscriptions(user).order_by(WebhookSubscription.created_at)
    return [_subscription_public(row) for row in session.scalars(query)]


@router.get(
    "/webhooks/{subscription_id}", response_model=schemas.SubscriptionPublic, summary="A subscription"
)
def get_subscription(subscription: SubscriptionDep) -> schemas.SubscriptionPublic:
    return _subscription_public(subscription)


@router.patch(
    "/webhooks/{subscription_id}",
    response_model=schemas.SubscriptionPublic,
    summary="Change a subscription; re-enable one disabled after failures",
)
def update_subscription(
    subscription: SubscriptionDep,
    body: schemas.SubscriptionUpdate,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.SubscriptionPublic:
    """Re-enabled (`is_active: true`), it sends what waited, in order."""
    webhooks.update_subscription(
        session, settings, subscription=subscription, changes=body.model_dump(include=body.model_fields_set)
    )
    return _subscription_public(subscription)


@router.post(
    "/webhooks/{subscription_id}/rotate-secret",
    response_model=schemas.SecretRotated,
    summary="Rotate the signing secret (both sign during the overlap)",
)
def rotate_secret(
    subscription: SubscriptionDep, body: schemas.SecretRotate, session: SessionDep
) -> schemas.SecretRotated:
    webhooks.rotate_secret(session, subscription=subscription, overlap=dt.timedelta(hours=body.overlap_hours))
    assert subscription.previous_secret_until is not None
    return schemas.SecretRotated(
        secret=subscription.secret, previous_secret_until=subscription.previous_secret_until
    )


@router.post(
    "/webhooks/{subscription_id}/ping",
    response_model=schemas.PingResult,
    summary="Send a signed test event now",
)
def ping(subscription: SubscriptionDep, settings: SettingsDep) -> schemas.PingResult:
    attempt = webhooks.ping(subscription, settings)
    return schemas.PingResult(ok=attempt.ok, **dataclasses.asdict(attempt))


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=list[schemas.DeliveryPublic],
    summary="The delivery log, newest first",
)
def list_deliveries(
    subscription: SubscriptionDep,
    session: SessionDep,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[schemas.DeliveryPublic]:
    rows = webhooks.deliveries(session, subscription=subscription, state=state, limit=limit)
    return [_delivery_public(delivery, kind) for delivery, kind in rows]


def _delivery_public(delivery: WebhookDelivery, kind: str) -> schemas.DeliveryPublic:
    # The next attempt means something only while it is pending.
    pending = delivery.state == DeliveryState.pending
    return schemas.DeliveryPublic.model_validate(
        {
            **delivery.model_dump(),
            "event_type": kind,
            "next_attempt_at": delivery.next_attempt_at if pending else None,
        }
    )


@router.get(
    "/webhooks/{subscription_id}/deliveries/{delivery_id}/attempts",
    response_model=list[schemas.AttemptPublic],
    summary="Every attempt of one delivery, oldest first",
)
def list_attempts(
    subscription: SubscriptionDep, delivery_id: uuid.UUID, session: SessionDep
) -> list[schemas.AttemptPublic]:
    rows = webhooks.attempts_of(session, subscription=subscription, delivery_id=delivery_id)
    return [schemas.AttemptPublic.model_validate(row, from_attributes=True) for row in rows]


@router.post(
    "/webhooks/{subscription_id}/deliveries/{delivery_id}/replay",
    response_model=schemas.DeliveryPublic,
    summary="Send one delivery again (same webhook-id)",
)
def replay_delivery(
    subscription: SubscriptionDep, delivery_id: uuid.UUID, session: SessionDep
) -> schemas.DeliveryPublic:
    delivery = webhooks.replay(session, subscription=subscription, delivery_id=delivery_id)
    event = session.get_one(WebhookEvent, delivery.event_id)
    return _delivery_public(delivery, event.event_type)


@router.post(
    "/webhooks/{subscription_id}/replay",
    response_model=schemas.ReplayReport,
    summary="Send again every event of a time range",
)
def replay_range(
    subscription: SubscriptionDep, body: schemas.ReplayRange, session: SessionDep
) -> schemas.ReplayReport:
    """Events of the subscription's types from `since` (inclusive) to `until` (exclusive), in order; also
    those from before it subscribed or while it was disabled."""
    return schemas.ReplayReport(
        replayed=webhooks.replay_range(session, subscription=subscription, since=body.since, until=body.until)
    )
