"""The report's window and its calendar periods (UTC), clipped to the window at both ends."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from escrow.errors import ValidationError

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
DEFAULT_SPAN = timedelta(days=30)
MAX_PERIODS = 366  # a year of days; the report's SQL holds one CASE branch per period


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True)
class Window:
    """``[start, end)`` cut into ``buckets`` that start on period boundaries (days at
    00:00 UTC, weeks on Mondays, months on the 1st); the first and last may be partial."""

    start: datetime
    end: datetime
    period: Period
    buckets: tuple[Bucket, ...]

    @classmethod
    def of(
        cls, start: datetime | None, end: datetime | None, period: Period, now: datetime
    ) -> Window:
        """Defaults to the 30 days before ``now``; times without an offset are UTC."""
        try:
            return cls._split(start, end, period, now)
        except (OverflowError, ValueError):  # a window at the calendar ends (year 1 or 9999)
            raise ValidationError(
                "from and to must lie between years 1 and 9999", field="to"
            ) from None

    @classmethod
    def _split(
        cls, start: datetime | None, end: datetime | None, period: Period, now: datetime
    ) -> Window:
        end = _utc(end) if end is not None else now
        start = _utc(start) if start is not None else end - DEFAULT_SPAN
        if start >= end:
            raise ValidationError("from must be before to", field="from")
        if period not in PERIODS:
            raise ValidationError(f"period must be one of {', '.join(PERIODS)}", field="period")
        buckets: list[Bucket] = []
        cursor = start
        while cursor < end:
            if len(buckets) == MAX_PERIODS:
                raise ValidationError(
                    f"the window spans more than {MAX_PERIODS} {period}s: narrow it or use a"
                    " longer period",
                    field="period",
                )
            following = min(next_boundary(cursor, period), end)
            buckets.append(Bucket(cursor, following))
            cursor = following
        return cls(start, end, period, tuple(buckets))

    @property
    def boundaries(self) -> list[datetime]:
        """The end of every bucket but the last: bucket ``i`` holds times before the i-th."""
        return [bucket.end for bucket in self.buckets[:-1]]

    def bucket_index(self, moment: datetime) -> int:
        """The bucket holding ``moment``, which must lie within the window."""
        return bisect.bisect_right(self.boundaries, moment)


def next_boundary(moment: datetime, period: Period) -> datetime:
    """The first period boundary strictly after ``moment`` (UTC)."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7 - day.weekday())
    if day.month == 12:
        return day.replace(year=day.year + 1, month=1, day=1)
    return day.replace(month=day.month + 1, day=1)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
