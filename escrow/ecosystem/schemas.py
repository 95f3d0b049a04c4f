"""Activity report response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from escrow.ecosystem.figures import Figures, Report, Tally


class Volume(msgspec.Struct):
    count: int
    bytes: int

    @classmethod
    def of(cls, tally: Tally) -> Volume:
        return cls(tally.count, tally.amount)


class PendingApprovals(msgspec.Struct):
    agreements: int  # pending, unexpired agreements still short of approvals
    approvals: int  # the approvals they still need, together


class FlowsOut(msgspec.Struct, kw_only=True):
    """What happened within a period (or the whole window)."""

    interactions: int  # audit events
    deposits: Volume  # versions committed, and their plaintext bytes
    releases: int
    downloads: Volume  # downloads started, and the bytes they served
    median_seconds_to_release: float | None  # agreement creation -> release; None: none


class PeriodOut(FlowsOut, kw_only=True):
    start: datetime
    end: datetime  # exclusive


class FiguresOut(FlowsOut, kw_only=True):
    approvals_pending: PendingApprovals  # at generated_at, whatever the window

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(**_pending(figures), **_flows(figures))


class PartnerOut(FiguresOut, kw_only=True):
    org: str  # the organization's slug


class EcosystemMetricsOut(msgspec.Struct, kw_only=True):
    org: str | None  # the organization reported on; None: the whole ecosystem
    from_: datetime = msgspec.field(name="from")
    to: datetime  # exclusive
    period: str
    generated_at: datetime
    totals: FiguresOut
    periods: list[PeriodOut]
    partners: list[PartnerOut]  # by slug; organizations with nothing to count are left out

    @classmethod
    def of(
        cls, report: Report, org: str | None, slugs: dict[str, str], now: datetime
    ) -> EcosystemMetricsOut:
        window = report.window
        partners = [
            PartnerOut(org=slugs.get(org_id, org_id), **_pending(figures), **_flows(figures))
            for org_id, figures in report.partners.items()
        ]
        periods = [
            PeriodOut(start=bucket.start, end=bucket.end, **_flows(figures))
            for bucket, figures in zip(window.buckets, report.periods, strict=True)
        ]
        return cls(
            org=org,
            from_=window.start,
            to=window.end,
            period=window.period,
            generated_at=now,
            totals=FiguresOut.of(report.totals),
            periods=periods,
            partners=sorted(partners, key=lambda partner: partner.org),
        )


def _flows(figures: Figures) -> dict[str, Any]:
    return {
        "interactions": figures.interactions.count,
        "deposits": Volume.of(figures.deposits),
        "releases": figures.releases,
        "downloads": Volume.of(figures.downloads),
        "median_seconds_to_release": figures.median_seconds_to_release,
    }


def _pending(figures: Figures) -> dict[str, Any]:
    return {"approvals_pending": PendingApprovals(figures.pending.count, figures.pending.amount)}
