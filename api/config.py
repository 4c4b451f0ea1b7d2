"""Settings: one object, read from the environment (prefix FIELDVISIT_), checked at start-up."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The secret a former version shipped in the repository: refused everywhere, since anyone with the
# source could sign an admin token with it.
PUBLISHED_SECRET = "fieldvisit-development-secret-change-me-0000000000"
SECRET_FILE = "secret-key"


class RuleThresholds(BaseSettings):
    """Defaults of DESIGN.md's rules; an item's own rule parameters win over these."""

    model_config = SettingsConfigDict(env_prefix="FIELDVISIT_RULE_", extra="ignore")

    site_distance_m: float = Field(300.0, gt=0)
    fix_accuracy_m: float = Field(100.0, gt=0)
    photo_distance_m: float = Field(500.0, gt=0)
    photo_age_hours: float = Field(24.0, gt=0)
    photo_phash_distance: int = Field(6, ge=0, le=64)
    due_days_critical: int = Field(3, ge=1)
    due_days_major: int = Field(10, ge=1)
    due_days_minor: int = Field(30, ge=1)


class Cadence(BaseSettings):
    """Visit cadence in days by risk grade (五级分类), and the first visit after disbursement."""

    model_config = SettingsConfigDict(env_prefix="FIELDVISIT_CADENCE_", extra="ignore")

    first_visit_days: int = Field(15, ge=1)
    normal: int = Field(90, ge=1)
    special_mention: int = Field(30, ge=1)
    substandard: int = Field(15, ge=1)
    doubtful: int = Field(15, ge=1)
    loss: int = Field(15, ge=1)

    def days_for(self, risk_grade: str) -> int:
        return int(getattr(self, risk_grade))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDVISIT_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/fieldvisit.db"
    photo_dir: Path = Path("./var/photos")
    # Photos (originals, derivatives, partial uploads) in an S3-compatible bucket instead of `photo_dir`, so
    # that any number of nodes share them and keep nothing of their own (`photo_dir` then holds only each
    # node's scratch files). Empty: the local folder. The bucket must exist.
    s3_bucket: str = Field("", max_length=63)
    # Empty: AWS itself; e.g. http://127.0.0.1:8333 for SeaweedFS or MinIO.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    # Empty: boto3's own lookup (AWS_ACCESS_KEY_ID…, an instance role).
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # Path-style addresses (http://host/bucket/key), which most servers other than AWS want.
    s3_path_style: bool = True
    # Keys start with this (e.g. "fieldvisit/"), for a bucket shared with other data.
    s3_prefix: str = ""
    # Empty: a random secret is made on first start and kept in the state folder (`secret-key`, mode
    # 0600), so a default install never signs with a value anyone else knows. Production must set one.
    secret_key: str = ""
    # Where the generated secret and the audit checkpoint live: beside the SQLite database by default,
    # ./var with PostgreSQL.
    state_dir: Path | None = None
    # Audit events are sealed into the chain, and the chain's head checkpointed, this often inside
    # `serve` (0 = only by `tick` and `audit verify`).
    audit_seal_seconds: float = Field(2.0, ge=0)
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(30, ge=1, le=365)
    # A phone whose refresh answer was lost on a flaky network retries with the old token;
    # within this window that retry is honoured instead of being treated as token theft.
    refresh_reuse_grace_seconds: int = Field(120, ge=0, le=3600)
    max_photo_bytes: int = Field(40 * 1024 * 1024, ge=1024)
    # A case's supporting document (PDF or image).
    max_attachment_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_jpeg_pixels: int = Field(210_000_000, ge=1_000_000)
    max_other_pixels: int = Field(100_000_000, ge=1_000_000)
    timezone: str = "Asia/Shanghai"
    demo_password: str = "fieldvisit-demo"
    background_tick_seconds: int = Field(300, ge=0)
    # The background work (tick, job poll, audit sealing, a new photo's derivatives) runs inside `serve`; false
    # when `fieldvisit worker` processes do it instead (API nodes then only ingest and answer).
    background_in_serve: bool = True
    # One JSON object per line (for a log pipeline), or plain text lines for a terminal.
    log_format: Literal["json", "text"] = "json"
    # Bearer token Prometheus sends to /metrics; empty: /metrics is off.
    metrics_token: str = Field("", max_length=200)
    # Webhook destinations on loopback, private or link-local addresses are refused (they would let an
    # outsider with webhooks:manage reach the bank's internal network) unless listed here, as networks or
    # addresses: e.g. ["10.20.0.0/16"] for the archive's internal receiver.
    webhook_allow_networks: list[str] = Field(default_factory=list)
    # Seconds before each retry of a failed delivery; when they are used up the delivery has failed and its
    # subscription is disabled. The default spreads 9 retries over about three days.
    webhook_retry_seconds: list[int] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400]
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # Deliveries sent side by side (never two of one visit to one destination at once).
    webhook_concurrency: int = Field(4, ge=1, le=32)
    # The address people and systems reach the service at (e.g. https://fieldvisit.bank.example), for the
    # links written without a request (webhook payloads, export job files); empty: links are paths.
    public_url: str = Field("", max_length=500)
    # How long an export job's download link works; then `tick` removes the file.
    export_link_hours: int = Field(24, ge=1, le=24 * 30)
    # The change feed keeps changes this many days (0 = for ever); `tick` forgets older ones, and a consumer
    # behind that answers 410 and reads afresh.
    change_retention_days: int = Field(0, ge=0)
    # Inside `serve` (or a `fieldvisit worker`), events are sent, export files made and photos left without
    # derivatives taken up this often (0 = only by `fieldvisit tick`).
    job_poll_seconds: float = Field(2.0, ge=0)
    # Map tiles, fetched by the server from the bank's tile provider and passed on (so the phone and the
    # browser only ever talk to us, and the provider's key stays on the server). Empty: maps show the
    # positions with a scale but no tiles. E.g. Tianditu (天地图, WGS-84/CGCS2000) or the bank's own server;
    # `{s}` is replaced by one of `map_tile_subdomains`.
    map_tile_url: str = Field("", max_length=500)
    map_tile_subdomains: str = Field("", max_length=16)
    map_attribution: str = Field("", max_length=300)
    # The tiles' datum: Chinese providers (Amap, Tencent) draw in GCJ-02, so positions are shifted to it.
    map_datum: Literal["WGS84", "GCJ02"] = "WGS84"
    map_max_zoom: int = Field(18, ge=1, le=22)
    # What the field app keeps for offline use when it downloads the work package: the tiles within this
    # radius of each site, for these zoom levels, up to this size in all.
    map_offline_radius_m: int = Field(800, ge=0, le=20_000)
    map_offline_min_zoom: int = Field(13, ge=0, le=22)
    map_offline_max_zoom: int = Field(17, ge=0, le=22)
    map_offline_max_mb: float = Field(40.0, ge=0, le=2000)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("FIELDVISIT_DATABASE_URL must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; spare operators the dialect suffix.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("webhook_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network or address: {network!r}") from exc
        return value

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if value and (
            not value.startswith(("http://", "https://")) or not all(f"{{{k}}}" in value for k in "zxy")
        ):
            raise ValueError("FIELDVISIT_MAP_TILE_URL must be an http(s) URL with {z}, {x} and {y}")
        return value

    @model_validator(mode="after")
    def _offline_zooms(self) -> Settings:
        if self.map_offline_min_zoom > self.map_offline_max_zoom:
            raise ValueError("FIELDVISIT_MAP_OFFLINE_MIN_ZOOM is above FIELDVISIT_MAP_OFFLINE_MAX_ZOOM")
        if "{s}" in self.map_tile_url and not self.map_tile_subdomains:
            raise ValueError("FIELDVISIT_MAP_TILE_URL has {s}: set FIELDVISIT_MAP_TILE_SUBDOMAINS (e.g. abc)")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_secrets(self) -> Settings:
        if self.secret_key == PUBLISHED_SECRET:
            raise ValueError("FIELDVISIT_SECRET_KEY is the value published in the source; choose your own")
        if self.secret_key and len(self.secret_key) < 32:
            raise ValueError("FIELDVISIT_SECRET_KEY must be 32+ random characters")
        if self.environment == "production" and not self.secret_key:
            raise ValueError("FIELDVISIT_SECRET_KEY must be set to 32+ random characters in production")
        return self

    @property
    def state_folder(self) -> Path:
        return _state_folder(self.state_dir, self.database_url)

    @property
    def signing_key(self) -> str:
        """The configured secret, or the one generated for this install. Read on every request: the
        generated one is cached by the two settings it depends on, with no path work per call."""
        return self.secret_key or _generated_secret(self.state_dir, self.database_url)

    @property
    def rules(self) -> RuleThresholds:
        return _rules()

    @property
    def cadence(self) -> Cadence:
        return _cadence()


def _state_folder(state_dir: Path | None, database_url: str) -> Path:
    if state_dir is not None:
        return state_dir
    if database_url.startswith("sqlite:///") and not database_url.endswith(":memory:"):
        return Path(database_url.removeprefix("sqlite:///")).parent
    return Path("./var")


@lru_cache
def _generated_secret(state_dir: Path | None, database_url: str) -> str:
    """Read the install's secret, making it on first start. Two processes starting at once agree: the
    secret is written to a file of its own and linked into place, which only one of them can do."""
    path = _state_folder(state_dir, database_url) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


@lru_cache
def _rules() -> RuleThresholds:
    return RuleThresholds()


@lru_cache
def _cadence() -> Cadence:
    return Cadence()


@lru_cache
def get_settings() -> Settings:
    return Settings()
