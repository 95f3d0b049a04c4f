"""The declarative base every table derives from, and the id column type."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase

ID = String(36)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSON,
    }
