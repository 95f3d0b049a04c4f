"""HTTP for the ecosystem's activity report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from escrow.ecosystem.periods import Period
from escrow.ecosystem.schemas import EcosystemMetricsOut
from escrow.ecosystem.service import EcosystemService
from escrow.openapi import problem_spec

Ecosystem = NamedDependency[EcosystemService]

Org = Annotated[
    str | None,
    QueryParameter(
        description="Organization slug (default: the ecosystem for operators, else yours)."
    ),
]
From = Annotated[
    datetime | None,
    QueryParameter(name="from", description="ISO 8601, inclusive (default: 30 days before to)."),
]
To = Annotated[
    datetime | None,
    QueryParameter(name="to", description="ISO 8601, exclusive (default: now). UTC if no offset."),
]
PeriodParam = Annotated[
    Period, QueryParameter(description="Bucket size: day, week (from Monday) or month (UTC).")
]


class EcosystemController(Controller):
    path = "/v1/ecosystem"
    tags = ("ecosystem",)

    @get(
        "/metrics",
        sync_to_thread=True,
        summary="Activity report: interactions, deposits, releases, downloads, per partner",
        responses={
            404: problem_spec("No such organization, or one you may not see"),
            422: problem_spec("from is not before to, or the window has too many periods"),
        },
    )
    def metrics(
        self,
        ecosystem: Ecosystem,
        org: Org = None,
        start: From = None,
        end: To = None,
        period: PeriodParam = "day",
    ) -> EcosystemMetricsOut:
        read = ecosystem.report(org, start, end, period)
        return EcosystemMetricsOut.of(read.report, read.org, read.slugs, read.generated_at)
