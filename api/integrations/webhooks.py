"""Webhook subscriptions and their deliveries, after the Standard Webhooks specification.

Events are written by the change itself (events.py). `fan_out` gives each committed event a delivery per
subscription that wants it and may see it; `deliver_due` sends what is due, signed (`webhook-id` is the
event's id, the same on every retry, so a receiver drops repeats), in order per visit: a visit's later event
waits while an earlier one to the same subscription is still pending. A failed attempt is retried on the
configured schedule (about three days); when the schedule is used up the delivery has failed, the
subscription is disabled and the admin is told in its record, the log and the audit trail.

Both steps run in `fieldvisit tick` and in the loop inside `serve` (the job queue of "ingest at scale" will
take them over). Each claims its work with a conditional UPDATE, so two processes never send one attempt
twice; a process killed mid-send leaves a claim that lapses, and the delivery is sent again.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, or_, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlmodel import col, select
from standardwebhooks import Webhook

from api.auth.models import Role, User
from api.config import Settings
from api.db import utcnow
from api.errors import NotFound
from api.integrations import accounts
from api.integrations.exceptions import UnresolvableDestination, UnsafeDestination
from api.integrations.models import (
    DeliveryState,
    EventType,
    Scope,
    ServiceAccount,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from api.kit.outbound import NO_REDIRECTS

logger = logging.getLogger("fieldvisit.webhooks")

# An attempt is claimed for this long; a sender killed mid-attempt frees it when it lapses.
CLAIM = dt.timedelta(seconds=60)
SNIPPET = 500
SCOPE_OF_EVENT = {
    "visit": Scope.visits_read,
    "discrepancy": Scope.visits_read,
    "task": Scope.tasks_read,
    "photo": Scope.photos_read,
    "signal": Scope.portfolio_read,
    "case": Scope.cases_read,
}


# ---- destinations ----


def check_destination(url: str, settings: Settings) -> None:
    """Refuse a destination that resolves to loopback, private, link-local or other non-public addresses
    unless the admin allow-listed it. Checked when a subscription is saved and again before every attempt
    (a name may be pointed elsewhere later)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination(
            "The destination must be an http(s) URL.", detail_zh="回调地址必须是 http(s) 地址。"
        )
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableDestination(
            f"The destination's host {parts.hostname!r} does not resolve.",
            detail_zh=f"回调地址的主机 {parts.hostname!r} 无法解析。",
        ) from exc
    allowed = [ipaddress.ip_network(network, strict=False) for network in settings.webhook_allow_networks]
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_global or any(address in network for network in allowed):
            continue
        raise UnsafeDestination(
            f"{parts.hostname} resolves to {address}, which is not a public address; an admin can allow it "
            "with FIELDVISIT_WEBHOOK_ALLOW_NETWORKS.",
            detail_zh=f"{parts.hostname} 解析为非公网地址 {address}；如确需使用，请管理员在 "
            "FIELDVISIT_WEBHOOK_ALLOW_NETWORKS 中放行。",
        )


# ---- subscriptions ----


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def owner_may_see(session: Session, *, owner: User, event: WebhookEvent) -> bool:
    """The owner's scope bounds what is sent: an admin the bank, a system its branches and scopes."""
    if not owner.is_active:
        return False
    if owner.role == Role.admin:
        return True
    if owner.role != Role.service:
        return False
    account = session.get(ServiceAccount, owner.id)
    account_scopes = set(account.scopes) if account is not None else set()
    needed = SCOPE_OF_EVENT[event.event_type.split(".", 1)[0]]
    if needed.value not in account_scopes:
        return False
    branches = accounts.branch_scope(owner)
    return branches is None or event.branch_id in branches


def create_subscription(
    session: Session,
    settings: Settings,
    *,
    owner: User,
    url: str,
    event_types: Iterable[EventType],
    description: str,
) -> WebhookSubscription:
    check_destination(url, settings)
    subscription = WebhookSubscription(
        owner_id=owner.id,
        url=url,
        event_types=sorted({kind.value for kind in event_types}),
        description=description,
        secret=new_secret(),
    )
    session.add(subscription)
    session.flush()
    return subscription


def scope_subscriptions(user: User) -> Any:
    query = select(WebhookSubscription)
    return query if user.role == Role.admin else query.where(WebhookSubscription.owner_id == user.id)


def get_subscription_for(session: Session, *, user: User, subscription_id: uuid.UUID) -> WebhookSubscription:
    found: WebhookSubscription | None = session.scalar(
        scope_subscriptions(user).where(col(WebhookSubscription.id) == subscription_id)
    )
    if found is None:
        raise NotFound("No such webhook subscription.", detail_zh="Webhook 订阅不存在。")
    return found


def update_subscription(
    session: Session, settings: Settings, *, subscription: WebhookSubscription, changes: dict[str, Any]
) -> None:
    if changes.get("url") is not None:
        check_destination(str(changes["url"]), settings)
        subscription.url = str(changes["url"])
    if changes.get("event_types") is not None:
        subscription.event_types = sorted({EventType(kind).value for kind in changes["event_types"]})
    if changes.get("description") is not None:
        subscription.description = changes["description"]
    if changes.get("is_active") is not None:
        subscription.is_active = changes["is_active"]
        if subscription.is_active:
            subscription.disabled_at = subscription.disabled_reason = None
    session.flush()


def rotate_secret(session: Session, *, subscription: WebhookSubscription, overlap: dt.timedelta) -> None:
    """A new secret now; deliveries carry a signature with the old one too until the overlap ends, so the
    receiver can switch without refusing anything."""
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_until = utcnow() + overlap
    subscription.secret = new_secret()
    session.flush()


# ---- fan-out ----


def fan_out(session: Session, *, batch: int = 500) -> int:
    """Give committed, not yet fanned-out events a delivery for each active subscription that wants them
    and whose owner may see them. The caller commits."""
    events = list(
        session.scalars(
            select(WebhookEvent)
            .where(col(WebhookEvent.fanned_out_at).is_(None))
            .order_by(col(WebhookEvent.created_at), col(WebhookEvent.id))
            .limit(batch)
        )
    )
    if not events:
        return 0
    subscriptions = list(
        session.scalars(select(WebhookSubscription).where(col(WebhookSubscription.is_active)))
    )
    owners = {
        user.id: user
        for user in session.scalars(select(User).where(col(User.id).in_({s.owner_id for s in subscriptions})))
    }
    now = utcnow()
    # One statement claims the whole batch; an event another process claimed first is skipped.
    claimed = set(
        session.scalars(
            update(WebhookEvent)
            .where(
                col(WebhookEvent.id).in_([e.id for e in events]), col(WebhookEvent.fanned_out_at).is_(None)
            )
            .values(fanned_out_at=now)
            .returning(col(WebhookEvent.id)),
            execution_options={"synchronize_session": False},
        )
    )
    made = 0
    for webhook_event in events:
        if webhook_event.id not in claimed:
            continue
        for subscription in subscriptions:
            if webhook_event.event_type not in subscription.event_types:
                continue
            if not owner_may_see(session, owner=owners[subscription.owner_id], event=webhook_event):
                continue
            session.add(_delivery(subscription, webhook_event, now))
            made += 1
    session.flush()
    return made


def _delivery(
    subscription: WebhookSubscription, webhook_event: WebhookEvent, now: dt.datetime
) -> WebhookDelivery:
    # Dated like its event, so that deliveries keep the order the changes were made in.
    return WebhookDelivery(
        subscription_id=subscription.id,
        event_id=webhook_event.id,
        visit_id=webhook_event.visit_id,
        next_attempt_at=now,
        created_at=webhook_event.created_at,
    )


# ---- delivery ----


@dataclass(frozen=True)
class Attempt:
    status: int | None
    latency_ms: int
    response: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(subscription: WebhookSubscription, *, message_id: str, body: str) -> dict[str, str]:
    now = utcnow()
    signatures = [Webhook(subscription.secret).sign(message_id, now, body)]
    if (
        subscription.previous_secret
        and subscription.previous_secret_until
        and subscription.previous_secret_until > now
    ):
        signatures.append(Webhook(subscription.previous_secret).sign(message_id, now, body))
    return {
        "content-type": "application/json",
        "user-agent": "Fieldvisit-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def send(subscription: WebhookSubscription, settings: Settings, *, message_id: str, body: str) -> Attempt:
    """One signed POST; never raises for what the network or the receiver does."""
    started = time.monotonic()
    try:
        check_destination(subscription.url, settings)
        request = urllib.request.Request(
            subscription.url,
            data=body.encode(),
            headers=signed_headers(subscription, message_id=message_id, body=body),
            method="POST",
        )
        with NO_REDIRECTS.open(request, timeout=settings.webhook_timeout_seconds) as answer:
            text = answer.read(SNIPPET).decode("utf-8", "replace")
            return Attempt(answer.status, _ms(started), text, None)
    except urllib.error.HTTPError as exc:
        text = exc.read(SNIPPET).decode("utf-8", "replace") if exc.fp else ""
        return Attempt(exc.code, _ms(started), text, None)
    except UnsafeDestination as exc:
        return Attempt(None, _ms(started), None, exc.detail_en)
    except (OSError, ValueError) as exc:
        return Attempt(None, _ms(started), None, f"{type(exc).__name__}: {exc}"[:SNIPPET])


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def body_of(webhook_event: WebhookEvent) -> str:
    return json.dumps(webhook_event.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _due(now: dt.datetime, limit: int) -> Any:
    earlier = aliased(WebhookDelivery)
    held_back = exists().where(
        col(earlier.subscription_id) == col(WebhookDelivery.subscription_id),
        col(earlier.visit_id) == col(WebhookDelivery.visit_id),
        col(earlier.state) == DeliveryState.pending,
        or_(
            col(earlier.created_at) < col(WebhookDelivery.created_at),
            and_(
                col(earlier.created_at) == col(WebhookDelivery.created_at),
                col(earlier.id) < col(WebhookDelivery.id),
            ),
        ),
    )
    return (
        select(col(WebhookDelivery.id))
        .where(
            col(WebhookDelivery.state) == DeliveryState.pending,
            col(WebhookDelivery.next_attempt_at) <= now,
            col(WebhookDelivery.subscription_id).in_(
                select(col(WebhookSubscription.id)).where(col(WebhookSubscription.is_active))
            ),
            ~held_back,
        )
        .order_by(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
        .limit(limit)
    )


def run(make_session: sessionmaker[Session], settings: Settings) -> tuple[int, int]:
    """One round: fan out what has committed, then send what is due. Returns (deliveries made, attempts)."""
    with make_session() as session:
        made = fan_out(session)
        session.commit()
    return made, deliver_due(make_session, settings)


def deliver_due(make_session: sessionmaker[Session], settings: Settings, *, limit: int = 1000) -> int:
    """Send due deliveries until none is left (a visit's next event becomes due once the one before it is
    delivered) or `limit` attempts were made; returns how many were attempted.

    Several at once (FIELDVISIT_WEBHOOK_CONCURRENCY): what is due holds at most one delivery per visit and
    destination, so sending them side by side keeps the order per visit, and a destination that takes its
    whole timeout does not hold up the others."""
    attempted = 0
    with ThreadPoolExecutor(max_workers=settings.webhook_concurrency, thread_name_prefix="webhook") as pool:
        while attempted < limit:
            with make_session() as session:
                due = list(session.scalars(_due(utcnow(), limit - attempted)))
            sent = sum(pool.map(lambda delivery_id: _attempt(make_session, settings, delivery_id), due))
            attempted += sent
            if not sent:
                return attempted
    return attempted


def _attempt(make_session: sessionmaker[Session], settings: Settings, delivery_id: uuid.UUID) -> bool:
    # Claim, read what to send, and end the transaction before sending: no lock (on SQLite, the one write
    # lock every upload needs) is held while a destination takes its time.
    with make_session() as session:
        now = utcnow()
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.state) == DeliveryState.pending,
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + CLAIM)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.commit()
            return False  # another process has it
        delivery = session.get_one(WebhookDelivery, delivery_id)
        subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
        webhook_event = session.get_one(WebhookEvent, delivery.event_id)
        if not subscription.is_active:
            delivery.next_attempt_at = now  # kept pending: a replay after re-enabling sends it
            session.commit()
            return False
        message_id, body = str(webhook_event.id), body_of(webhook_event)
        session.commit()
        session.expunge(subscription)
    attempt = send(subscription, settings, message_id=message_id, body=body)
    with make_session() as session:
        delivery = session.get_one(WebhookDelivery, delivery_id)
        subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
        record_attempt(session, settings, delivery=delivery, subscription=subscription, attempt=attempt)
        session.commit()
    return True


def record_attempt(
    session: Session,
    settings: Settings,
    *,
    delivery: WebhookDelivery,
    subscription: WebhookSubscription,
    attempt: Attempt,
) -> None:
    now = utcnow()
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status=attempt.status,
            latency_ms=attempt.latency_ms,
            response=attempt.response[:SNIPPET] if attempt.response is not None else None,
            error=attempt.error[:SNIPPET] if attempt.error is not None else None,
        )
    )
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status, delivery.last_latency_ms = attempt.status, attempt.latency_ms
    delivery.last_response = attempt.response[:SNIPPET] if attempt.response is not None else None
    delivery.last_error = attempt.error[:SNIPPET] if attempt.error is not None else None
    if attempt.ok:
        delivery.state, delivery.delivered_at = DeliveryState.delivered, now
        return
    schedule = settings.webhook_retry_seconds
    if delivery.attempts <= len(schedule):
        delivery.next_attempt_at = now + dt.timedelta(seconds=schedule[delivery.attempts - 1])
        return
    delivery.state = DeliveryState.failed
    disable(
        session,
        subscription=subscription,
        reason=(
            f"Delivery {delivery.id} failed {delivery.attempts} times over "
            f"{(now - delivery.created_at).total_seconds() / 3600:.0f} h (last: "
            f"{attempt.status or attempt.error}); the subscription was disabled."
        ),
    )


def disable(session: Session, *, subscription: WebhookSubscription, reason: str) -> None:
    """Stop sending to a destination that keeps failing; what is still pending is kept for a replay."""
    if not subscription.is_active:
        return
    subscription.is_active = False
    subscription.disabled_at = utcnow()
    subscription.disabled_reason = reason[:SNIPPET]
    session.flush()
    logger.warning(
        "webhook subscription disabled", extra={"subscription_id": str(subscription.id), "reason": reason}
    )


# ---- the log and replay ----


def deliveries(
    session: Session, *, subscription: WebhookSubscription, state: DeliveryState | None, limit: int
) -> list[tuple[WebhookDelivery, str]]:
    query = (
        select(WebhookDelivery, col(WebhookEvent.event_type))
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
        .where(WebhookDelivery.subscription_id == subscription.id)
    )
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    rows = session.execute(
        query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id)).limit(limit)
    )
    return [(delivery, kind) for delivery, kind in rows]


def replay(session: Session, *, subscription: WebhookSubscription, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send one delivery again, with the same webhook-id (the receiver may have lost it)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("No such delivery.", detail_zh="投递记录不存在。")
    delivery.state, delivery.attempts, delivery.next_attempt_at = DeliveryState.pending, 0, utcnow()
    session.flush()
    return delivery


def replay_range(
    session: Session, *, subscription: WebhookSubscription, since: dt.datetime, until: dt.datetime
) -> int:
    """Every event of the subscription's types in [since, until) that its owner may see, sent again in order
    — also those that happened before it was subscribed or while it was disabled."""
    owner = session.get_one(User, subscription.owner_id)
    events = session.scalars(
        select(WebhookEvent)
        .where(
            col(WebhookEvent.event_type).in_(subscription.event_types),
            col(WebhookEvent.created_at) >= since,
            col(WebhookEvent.created_at) < until,
        )
        .order_by(col(WebhookEvent.created_at), col(WebhookEvent.id))
    )
    now, count = utcnow(), 0
    for webhook_event in events:
        if not owner_may_see(session, owner=owner, event=webhook_event):
            continue
        delivery = session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.subscription_id == subscription.id,
                WebhookDelivery.event_id == webhook_event.id,
            )
        )
        if delivery is None:
            session.add(_delivery(subscription, webhook_event, now))
        else:
            delivery.state, delivery.attempts, delivery.next_attempt_at = DeliveryState.pending, 0, now
        count += 1
    session.flush()
    return count


def ping(subscription: WebhookSubscription, settings: Settings) -> Attempt:
    """A signed test event sent now (not kept as a delivery), so the owner sees at once whether the
    destination answers and verifies the signature."""
    message_id = f"ping_{uuid.uuid4()}"
    body = json.dumps(
        {
            "type": "webhook.ping",
            "timestamp": utcnow().isoformat(),
            "data": {"subscription_id": str(subscription.id)},
        },
        separators=(",", ":"),
    )
    return send(subscription, settings, message_id=message_id, body=body)


def attempts_of(
    session: Session, *, subscription: WebhookSubscription, delivery_id: uuid.UUID
) -> list[WebhookAttempt]:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("No such delivery.", detail_zh="投递记录不存在。")
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
    return list(session.scalars(query.order_by(col(WebhookAttempt.attempted_at), col(WebhookAttempt.id))))
