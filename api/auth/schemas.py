from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from api.auth.models import BranchBase, Role, UserBase
from api.db import PUBLIC


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(
        description="Single use: every refresh returns a new one. Keep it in the device."
    )
    refresh_expires_at: dt.datetime


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class UserPublic(UserBase):
    model_config = PUBLIC

    id: uuid.UUID


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str | None = Field(None, max_length=200)
    role: Role
    branch_code: str = Field(min_length=1, max_length=32)


class BranchPublic(BranchBase):
    model_config = PUBLIC

    id: uuid.UUID
