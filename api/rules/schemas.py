from __future__ import annotations

import uuid

from api.db import PUBLIC
from api.rules.models import DiscrepancyBase


class DiscrepancyPublic(DiscrepancyBase):
    model_config = PUBLIC

    id: uuid.UUID
