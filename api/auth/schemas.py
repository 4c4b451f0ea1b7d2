from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from api.auth.models import BranchBase, UserBase
from api.db import PUBLIC


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(
        description="Single use: every refresh returns a new one. Keep it in the device."
    )
    refresh_expires_at: dt.datetime


class ClientTokenOut(BaseModel):
    """The client-credentials answer: no refresh token (the system exchanges its key again)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    scope: str = Field(description="The scopes granted, space-separated.")


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class UserPublic(UserBase):
    model_config = PUBLIC

    id: uuid.UUID


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(None, max_length=200)
    # People only: a service account is made through /service-accounts, with scopes instead of a role.
    role: Literal["manager", "reviewer", "admin"]
    branch_code: str = Field(min_length=1, max_length=32)


class BranchPublic(BranchBase):
    model_config = PUBLIC

    id: uuid.UUID
