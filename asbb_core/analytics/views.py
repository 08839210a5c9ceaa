"""The outward form of burn rates, forecasts, cost ratios, usage summaries, grant compliance
reports and account statements: one view each, shared by the REST API, the CLI and the
reports' JSON (``asbb_core.values.wire``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import PlainSerializer, WithJsonSchema

from asbb_core.analytics.burnrate import recommendations, variance_percent
from asbb_core.analytics.decisions import BAND_RISK, alert_figures, details_text
from asbb_core.funding.grants import rate_str
from asbb_core.ledger.views import Page
from asbb_core.values.money import ZERO
from asbb_core.values.wire import Money, Precise, View

if TYPE_CHECKING:
    from asbb_core.analytics.burnrate import (
        AccountForecast,
        BurnRate,
        DaySpend,
        Forecast,
        ForecastPoint,
        Health,
        HealthFactor,
    )
    from asbb_core.analytics.reports import (
        Balances,
        BurnStatus,
        GrantReport,
        KindTotal,
        Statement,
        StatementRow,
    )
    from asbb_core.analytics.usage import UsageGroup, UsageSummary
    from asbb_core.funding.allocations import Instalment
    from asbb_core.funding.grants import Figures
    from asbb_core.ledger.calibration import CostRatio
    from asbb_core.settings import CalibrationSettings, Settings
    from asbb_core.store.models import Alert

ReportTime = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "An RFC 3339 time with its UTC offset written out",
            "examples": ["2026-03-02T08:00:00+00:00"],
        }
    ),
]
"""A time in a report: "+00:00" rather than "Z", as the same report's CSV and Markdown write
it, so its three formats agree to the character."""


# ---------------------------------------------------------------- burn rate


class InstalmentView(View):
    """An allocation instalment still to come."""

    period: int
    """0-based index of the instalment in its schedule."""
    due_date: date
    amount: Money

    @classmethod
    def of(cls, i: Instalment) -> InstalmentView:
        return cls(period=i.period, due_date=i.due_date, amount=i.amount)


class HealthFactorView(View):
    """One penalty the health score is 100 minus (docs/reports.md, "Health score")."""

    factor: str
    """overspend, runway or funds."""
    penalty: Precise
    """Points taken off 100, exact (the score rounds their total half-even)."""
    max_penalty: Precise
    value: Precise | None
    """What the penalty is of: the variance % (overspend); the days the money falls short of
    the end date or, without one, the days until it runs out (runway); the available money
    (funds). Null: not known."""
    description: str

    @classmethod
    def of(cls, f: HealthFactor) -> HealthFactorView:
        return cls(
            factor=f.name,
            penalty=f.penalty,
            max_penalty=f.max_penalty,
            value=f.value,
            description=f.description,
        )


class HealthView(View):
    score: int
    """0-100, higher is healthier: 100 less the factors' penalties."""
    band: str
    """healthy, concern, warning or critical (thresholds in settings [burn_rate])."""
    factors: list[HealthFactorView]
    """overspend, runway and funds, always in that order."""

    @classmethod
    def of(cls, health: Health) -> HealthView:
        return cls(
            score=health.score,
            band=health.band,
            factors=[HealthFactorView.of(f) for f in health.factors],
        )


class DaySpendView(View):
    day: date
    actual: Money
    expected: Money | None

    @classmethod
    def of(cls, d: DaySpend) -> DaySpendView:
        return cls(day=d.day, actual=d.actual, expected=d.expected)


class KeyedSpendView(View):
    key: str | None
    """The partition or user (null: not recorded)."""
    spent: Money

    @classmethod
    def of(cls, pair: tuple[str | None, Decimal]) -> KeyedSpendView:
        return cls(key=pair[0], spent=pair[1])


class BurnRateView(View):
    """Actual against expected daily spend of an account or a grant's budget period."""

    subject: str
    """account or grant."""
    name: str
    window: str
    since: date
    until: date
    days: int
    period_start: date
    end_date: date | None
    budget: Money
    """The account's limit, or the grant period's budget."""
    spent: Money
    """Net spend inside the window."""
    spent_to_date: Money
    """The account's used total, or what the grant period consumed up to today."""
    available: Money
    actual_daily: Money
    expected_daily: Money | None
    expected_basis: str | None
    """linear, schedule, or null (nothing to compare against)."""
    variance_percent: Precise | None
    projected_exhaustion: date | None
    projected_balance_at_end: Money | None
    health: HealthView
    indirect_rate: Precise | None
    """Grants only: total cost = direct x (1 + rate)."""
    accounts: list[str]
    """The accounts whose spend this is (a grant's linked accounts)."""
    daily: list[DaySpendView]
    by_partition: list[KeyedSpendView]
    by_user: list[KeyedSpendView]
    incoming: list[InstalmentView]
    """Instalments still to come (due after today), by due date; the projection counts
    them."""
    burn_rate_status: str
    """OVERSPENDING (variance above +20.0 %), UNDERSPENDING (below -20.0 %), ON_TRACK
    (between, inclusive) or UNKNOWN (no expected rate)."""
    rolling_7d_daily: Money
    """Net spend over the 7 days ending ``until``, per day (never before the period)."""
    rolling_30d_daily: Money
    """Net spend over the 30 days ending ``until``, per day (never before the period)."""
    cumulative_spend: Money
    """Net spend from ``period_start`` to ``until``."""
    cumulative_expected: Money | None
    """What the expected daily spend adds up to from ``period_start`` to ``until``."""
    cumulative_variance_percent: Precise | None
    """(cumulative spend - cumulative expected) / cumulative expected x 100, one decimal."""
    time_remaining_days: int | None
    """Days from today to the end date (0 once passed; null: no end date)."""
    projected_spend_at_end: Money | None
    """Spent or held by the end date at ``actual_daily`` (null: no end date)."""
    projected_overrun: Money | None
    """How far that exceeds the money (0 when it does not)."""
    projected_underrun: Money | None
    """How much of the money is projected to be left at the end (0 when none is)."""

    @classmethod
    def of(cls, br: BurnRate) -> BurnRateView:
        return cls(
            subject=br.subject,
            name=br.name,
            window=br.window,
            since=br.since,
            until=br.until,
            days=br.days,
            period_start=br.period_start,
            end_date=br.end_date,
            budget=br.budget,
            spent=br.spent,
            spent_to_date=br.spent_to_date,
            available=br.available,
            actual_daily=br.actual_daily,
            expected_daily=br.expected_daily,
            expected_basis=br.expected_basis,
            variance_percent=br.variance_percent,
            projected_exhaustion=br.projected_exhaustion,
            projected_balance_at_end=br.projected_balance_at_end,
            health=HealthView.of(br.health),
            indirect_rate=br.indirect_rate,
            accounts=list(br.accounts),
            daily=[DaySpendView.of(d) for d in br.daily],
            by_partition=[KeyedSpendView.of(p) for p in br.by_partition],
            by_user=[KeyedSpendView.of(u) for u in br.by_user],
            incoming=[InstalmentView.of(i) for i in br.incoming],
            burn_rate_status=br.burn_rate_status,
            rolling_7d_daily=br.rolling_7d_daily,
            rolling_30d_daily=br.rolling_30d_daily,
            cumulative_spend=br.cumulative_spend,
            cumulative_expected=br.cumulative_expected,
            cumulative_variance_percent=br.cumulative_variance_percent,
            time_remaining_days=br.time_remaining_days,
            projected_spend_at_end=br.projected_spend_at_end,
            projected_overrun=br.projected_overrun,
            projected_underrun=br.projected_underrun,
        )


class DailySpendView(View):
    """One day of a burn rate's series with the running total of its actual spend (the
    rows of ``asbb burn-rate --csv``)."""

    day: date
    actual: Money
    expected: Money | None
    cumulative: Money
    """The actual spend from the window's first day up to and including this one."""

    @classmethod
    def series(cls, br: BurnRate) -> list[DailySpendView]:
        rows, total = [], ZERO
        for d in br.daily:
            # summed before rounding, so the last row is the window's spend to the cent
            total += d.actual
            rows.append(cls(day=d.day, actual=d.actual, expected=d.expected, cumulative=total))
        return rows


# ---------------------------------------------------------------- the original tool's shape


class OriginalTimeRangeView(View):
    """The original's ``time_range``: the window."""

    start_date: date
    end_date: date
    days: int


class OriginalMetricsView(View):
    """The original's ``current_metrics``, field for field (its ``BurnRateMetrics``). Its Go
    types hold no null, so a figure asbb leaves null is 0 here."""

    daily_spend_rate: Money
    """``actual_daily``."""
    daily_expected_rate: Money
    """``expected_daily`` (0: nothing to compare against)."""
    variance_percentage: Precise
    """``variance_percent`` (0: nothing to compare against)."""
    rolling_7day_average: Money
    rolling_30day_average: Money
    cumulative_spend: Money
    cumulative_expected: Money
    cumulative_variance_pct: Precise
    budget_health_score: int
    """asbb's health score (0-100)."""
    budget_health_status: str
    """asbb's band in capitals: HEALTHY, CONCERN, WARNING or CRITICAL."""
    budget_remaining_amount: Money
    """``available``."""
    budget_remaining_percent: Precise
    """``available`` as a share of the budget, one decimal (0: no budget)."""
    time_remaining_days: int
    """Days to the end date (0 once passed, or without one)."""
    burn_rate_status: str
    """OVERSPENDING, UNDERSPENDING, ON_TRACK or UNKNOWN."""


class OriginalDataPointView(View):
    """One day of the original's ``historical_data`` (0 for a figure asbb leaves null)."""

    date: date
    daily_spend: Money
    daily_expected: Money
    variance_percentage: Precise
    """That day's spend against its expected spend."""
    cumulative_spend: Money
    """From the period's first day."""
    cumulative_expected: Money
    budget_health_score: int
    """The score as of the analysis day (asbb keeps no daily snapshots of it)."""


class OriginalProjectionView(View):
    """The original's ``projection``, at the window's actual daily rate."""

    projected_end_date: date
    """The end date the projection runs to."""
    projected_depletion_date: date | None
    """``projected_exhaustion`` when it falls by the end date, else null."""
    projected_final_spend: Money
    projected_overrun: Money
    projected_underrun: Money
    confidence_level: Precise
    """Always 0: asbb carries the rate forward and fits no statistical model, so it claims
    no confidence."""
    projection_method: str
    """linear: the window's actual daily spend from tomorrow on, instalments added when due."""
    risk_level: str
    """LOW, MEDIUM, HIGH or CRITICAL: the health band's."""


class OriginalAlertView(View):
    """An open alert, with the fields of the original tool's ``BudgetAlert`` and asbb's."""

    id: int
    account_id: int
    """0 for an alert of no account (a grant's)."""
    account: str | None
    grant_id: int | None
    grant: str | None
    alert_type: str
    """usage, variance, exhaustion, grant-period, stuck-holds or spool-backlog."""
    kind: str
    """The same, by asbb's name."""
    severity: str
    status: str
    """open or acknowledged."""
    title: str
    message: str
    details: str
    """The alert's figures as JSON text (the original kept them in a text column)."""
    threshold_value: Precise
    """What the figure was compared with (e.g. the usage threshold, in percent)."""
    actual_value: Precise
    """The figure that raised it (e.g. the percent used)."""
    triggered_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str
    """Empty until acknowledged."""
    resolved_at: datetime | None

    @classmethod
    def of(
        cls, a: Alert, account: str | None, grant: str | None, settings: Settings
    ) -> OriginalAlertView:
        """``a`` with the names of its account and grant."""
        assert a.id is not None  # read from the database: it has its id
        details = dict(a.details or {})
        threshold, actual = alert_figures(a.kind, details, settings)
        return cls(
            id=a.id,
            account_id=a.account_id or 0,
            account=account,
            grant_id=a.grant_id,
            grant=grant,
            alert_type=a.kind,
            kind=a.kind,
            severity=str(a.severity),
            status=str(a.status),
            title=a.title,
            message=a.message,
            details=details_text(details),
            threshold_value=threshold,
            actual_value=actual,
            triggered_at=a.opened_at,
            opened_at=a.opened_at,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by or "",
            resolved_at=a.resolved_at,
        )


class OriginalBurnRateView(BurnRateView):
    """asbb's burn rate with the original tool's ``BurnRateAnalysisResponse`` beside it."""

    account: str
    """The account (a grant: its linked accounts, comma-separated)."""
    grant_number: str
    """The grant's number; empty for an account."""
    analysis_period: str
    """``window``."""
    time_range: OriginalTimeRangeView
    current_metrics: OriginalMetricsView
    historical_data: list[OriginalDataPointView]
    """The window's days, oldest first."""
    projection: OriginalProjectionView | None
    """With ``include_projection`` and an end date; else null."""
    alerts: list[OriginalAlertView] | None
    """With ``include_alerts``: the open and acknowledged alerts, oldest first; else null."""
    recommendations: list[str]

    @classmethod
    def of_original(
        cls,
        br: BurnRate,
        *,
        projection: bool = False,
        alerts: Sequence[OriginalAlertView] | None = None,
    ) -> OriginalBurnRateView:
        score = br.health.score
        risk = BAND_RISK.get(br.health.band, "CRITICAL")
        planned: OriginalProjectionView | None = None
        if projection and br.end_date is not None and br.projected_spend_at_end is not None:
            runs_out = br.projected_exhaustion
            planned = OriginalProjectionView(
                projected_end_date=br.end_date,
                projected_depletion_date=(
                    runs_out if runs_out is not None and runs_out <= br.end_date else None
                ),
                projected_final_spend=br.projected_spend_at_end,
                projected_overrun=br.projected_overrun or ZERO,
                projected_underrun=br.projected_underrun or ZERO,
                confidence_level=ZERO,
                projection_method="linear",
                risk_level=risk,
            )
        return cls(
            **dict(BurnRateView.of(br)),
            account=",".join(br.accounts) if br.subject == "grant" else br.name,
            grant_number=br.name if br.subject == "grant" else "",
            analysis_period=br.window,
            time_range=OriginalTimeRangeView(start_date=br.since, end_date=br.until, days=br.days),
            current_metrics=OriginalMetricsView(
                daily_spend_rate=br.actual_daily,
                daily_expected_rate=_or_zero(br.expected_daily),
                variance_percentage=_or_zero(br.variance_percent),
                rolling_7day_average=br.rolling_7d_daily,
                rolling_30day_average=br.rolling_30d_daily,
                cumulative_spend=br.cumulative_spend,
                cumulative_expected=_or_zero(br.cumulative_expected),
                cumulative_variance_pct=_or_zero(br.cumulative_variance_percent),
                budget_health_score=score,
                budget_health_status=br.health.band.upper(),
                budget_remaining_amount=br.available,
                budget_remaining_percent=_or_zero(br.remaining_percent),
                time_remaining_days=br.time_remaining_days or 0,
                burn_rate_status=br.burn_rate_status,
            ),
            historical_data=[
                OriginalDataPointView(
                    date=d.day,
                    daily_spend=d.actual,
                    daily_expected=_or_zero(d.expected),
                    variance_percentage=_or_zero(variance_percent(d.actual, d.expected)),
                    cumulative_spend=d.cumulative_actual,
                    cumulative_expected=_or_zero(d.cumulative_expected),
                    budget_health_score=score,
                )
                for d in br.daily
            ],
            projection=planned,
            alerts=None if alerts is None else list(alerts),
            recommendations=recommendations(br),
        )


def _or_zero(value: Decimal | None) -> Decimal:
    """The original's Go types hold no null: its zero stands for "not known"."""
    return ZERO if value is None else value


# ---------------------------------------------------------------- health scores


class HealthScoreView(View):
    """One account's health score, the factors behind it, and the original tool's names for
    the score and its band (``GET /api/v1/analytics/health-score``)."""

    account: str
    as_of: date
    """The day the window ends (the account's end date once it has passed)."""
    window: str
    """The burn-rate window the score is computed over."""
    score: int
    """0-100, higher is healthier: 100 less the factors' penalties."""
    band: str
    """healthy, concern, warning or critical (settings [burn_rate])."""
    factors: list[HealthFactorView]
    """overspend, runway and funds, always in that order."""
    budget_health_score: int
    """The original's name for ``score``."""
    budget_health_status: str
    """The original's name for ``band``, in capitals."""
    risk_level: str
    """LOW, MEDIUM, HIGH or CRITICAL: the band's."""
    burn_rate_status: str
    """OVERSPENDING, UNDERSPENDING, ON_TRACK or UNKNOWN."""
    variance_percent: Precise | None
    available: Money
    end_date: date | None
    projected_exhaustion: date | None

    @classmethod
    def of(cls, br: BurnRate) -> HealthScoreView:
        health = HealthView.of(br.health)
        return cls(
            account=br.name,
            as_of=br.until,
            window=br.window,
            score=health.score,
            band=health.band,
            factors=health.factors,
            budget_health_score=health.score,
            budget_health_status=health.band.upper(),
            risk_level=BAND_RISK.get(health.band, "CRITICAL"),
            burn_rate_status=br.burn_rate_status,
            variance_percent=br.variance_percent,
            available=br.available,
            end_date=br.end_date,
            projected_exhaustion=br.projected_exhaustion,
        )


class HealthScorePage(Page[HealthScoreView]):
    pass


# ---------------------------------------------------------------- forecast


class ForecastPointView(View):
    day: date
    days: int
    """Days after today."""
    spend: Money
    """Projected spend from tomorrow up to and including ``day``."""
    instalments: Money
    """Instalments due after today, up to and including ``day``."""
    balance: Money
    """available + instalments - spend."""

    @classmethod
    def of(cls, p: ForecastPoint) -> ForecastPointView:
        return cls(
            day=p.day, days=p.days, spend=p.spend, instalments=p.instalments, balance=p.balance
        )


class ForecastView(View):
    basis: str
    """The window whose actual daily spend is carried forward (30d, 90d)."""
    daily: Money
    exhaustion: date | None
    """When the money runs out at ``daily`` (instalments counted); null: not in sight."""
    points: list[ForecastPointView]

    @classmethod
    def of(cls, f: Forecast) -> ForecastView:
        return cls(
            basis=f.basis,
            daily=f.daily,
            exhaustion=f.exhaustion,
            points=[ForecastPointView.of(p) for p in f.points],
        )


class ForecastLineView(View):
    """One point of one forecast, with its forecast's figures: a row of the flat table and
    CSV of ``asbb forecast``."""

    basis: str
    daily: Money
    day: date
    days: int
    spend: Money
    instalments: Money
    balance: Money
    exhaustion: date | None


class AccountForecastView(View):
    """An account's spend and balance ahead, at its 30-day and at its 90-day rate."""

    account: str
    today: date
    available: Money
    end_date: date | None
    incoming: list[InstalmentView]
    forecasts: list[ForecastView]

    @classmethod
    def of(cls, result: AccountForecast) -> AccountForecastView:
        return cls(
            account=result.account,
            today=result.today,
            available=result.available,
            end_date=result.end_date,
            incoming=[InstalmentView.of(i) for i in result.incoming],
            forecasts=[ForecastView.of(f) for f in result.forecasts],
        )

    def lines(self) -> list[ForecastLineView]:
        """Every point of every forecast, one line each."""
        return [
            ForecastLineView(
                basis=f.basis,
                daily=f.daily,
                exhaustion=f.exhaustion,
                **dict(p),
            )
            for f in self.forecasts
            for p in f.points
        ]


# ---------------------------------------------------------------- cost learning


class CostRatioView(View):
    account: str
    partition: str | None
    jobs: int
    estimated: Money
    actual: Money
    ratio: Precise | None
    """actual / estimated."""
    factor: Precise
    """What calibration scales new estimates by (1 until enough jobs back the ratio)."""

    @classmethod
    def of(cls, r: CostRatio) -> CostRatioView:
        return cls(
            account=r.account,
            partition=r.partition,
            jobs=r.jobs,
            estimated=r.estimated,
            actual=r.actual,
            ratio=r.ratio,
            factor=r.factor,
        )


class CalibrationView(View):
    """Cost learning: the calibration settings and the ratios of the learning window."""

    enabled: bool
    window_days: int
    min_jobs: int
    lower: Precise
    upper: Precise
    ratios: list[CostRatioView]

    @classmethod
    def of(cls, settings: CalibrationSettings, ratios: Sequence[CostRatio]) -> CalibrationView:
        return cls(
            enabled=settings.enabled,
            window_days=settings.window_days,
            min_jobs=settings.min_jobs,
            lower=settings.lower,
            upper=settings.upper,
            ratios=[CostRatioView.of(r) for r in ratios],
        )


# ---------------------------------------------------------------- usage


class UsageGroupView(View):
    key: str | None
    """The account, partition, user, day (YYYY-MM-DD, UTC) or month (YYYY-MM); null when not
    recorded."""
    charged: Money
    jobs: int
    """Distinct jobs (holds) with charges; a job array counts once."""
    charges: int
    """Charge rows (an array's tasks and overrun charges each count)."""
    average_per_job: Money

    @classmethod
    def of(cls, group: UsageGroup) -> UsageGroupView:
        return cls(
            key=group.key,
            charged=group.charged,
            jobs=group.jobs,
            charges=group.charges,
            average_per_job=group.average_per_job,
        )


class UsageView(View):
    group_by: str
    account: str | None
    since: datetime | None
    until: datetime | None
    groups: list[UsageGroupView]
    charged: Money
    jobs: int
    charges: int
    average_per_job: Money

    @classmethod
    def of(cls, summary: UsageSummary) -> UsageView:
        return cls(
            group_by=summary.group_by,
            account=summary.account,
            since=summary.since,
            until=summary.until,
            groups=[UsageGroupView.of(g) for g in summary.groups],
            charged=summary.charged,
            jobs=summary.jobs,
            charges=summary.charges,
            average_per_job=summary.average_per_job,
        )


# ---------------------------------------------------------------- grant compliance report


class FiguresView(View):
    key: str | None
    """A month (YYYY-MM), partition, user or account; null when not recorded."""
    direct: Money
    indirect: Money
    total: Money

    @classmethod
    def of(cls, f: Figures) -> FiguresView:
        return cls(key=f.key, direct=f.direct, indirect=f.indirect, total=f.total)


class ReportGrantView(View):
    number: str
    title: str
    agency: str
    program: str
    pi: str
    co_pis: list[str]
    institution: str
    department: str
    cfda: str
    total_award: Money
    start_date: date
    end_date: date
    indirect_rate: Precise
    """A plain fraction with 2 to 4 decimals ("0.30", "0.575")."""
    status: str


class ReportPeriodView(View):
    number: int
    count: int
    start_date: date
    end_date: date
    state: str
    """upcoming, current or ended on the report's day."""
    budget: Money


class ReportSummaryView(View):
    budget: Money
    direct: Money
    indirect: Money
    total: Money
    remaining: Money
    percent_used: Precise
    drawn: Money
    drawn_cost: Money


class ReportBurnRateView(View):
    status: str
    """healthy, concern, warning or critical."""
    score: int
    actual_daily: Money
    expected_daily: Money | None
    variance_percent: Precise | None
    projected_exhaustion: date | None
    projected_balance_at_end: Money | None

    @classmethod
    def of(cls, burn: BurnStatus) -> ReportBurnRateView:
        return cls(
            status=burn.band,
            score=burn.score,
            actual_daily=burn.actual_daily,
            expected_daily=burn.expected_daily,
            variance_percent=burn.variance_percent,
            projected_exhaustion=burn.projected_exhaustion,
            projected_balance_at_end=burn.projected_balance_at_end,
        )


class GrantReportView(View):
    """A grant's compliance report for one budget period (docs/reports.md)."""

    grant: ReportGrantView
    period: ReportPeriodView
    as_of: date
    generated_at: ReportTime
    summary: ReportSummaryView
    by_month: list[FiguresView]
    by_partition: list[FiguresView]
    by_user: list[FiguresView]
    by_account: list[FiguresView]
    burn_rate: ReportBurnRateView | None

    @classmethod
    def of(cls, r: GrantReport) -> GrantReportView:
        return cls(
            grant=ReportGrantView(
                number=r.number,
                title=r.title,
                agency=r.agency,
                program=r.program,
                pi=r.pi,
                co_pis=list(r.co_pis),
                institution=r.institution,
                department=r.department,
                cfda=r.cfda,
                total_award=r.total_award,
                start_date=r.start_date,
                end_date=r.end_date,
                # the rate as the CSV and Markdown write it: 2 to 4 decimals
                indirect_rate=Decimal(rate_str(r.indirect_rate)),
                status=r.status,
            ),
            period=ReportPeriodView(
                number=r.period,
                count=r.period_count,
                start_date=r.period_start,
                end_date=r.period_end,
                state=r.period_state,
                budget=r.budget,
            ),
            as_of=r.today,
            generated_at=r.generated_at,
            summary=ReportSummaryView(
                budget=r.budget,
                direct=r.direct,
                indirect=r.indirect,
                total=r.total,
                remaining=r.remaining,
                percent_used=r.percent_used,
                drawn=r.drawn,
                drawn_cost=r.drawn_cost,
            ),
            by_month=[FiguresView.of(f) for f in r.by_month],
            by_partition=[FiguresView.of(f) for f in r.by_partition],
            by_user=[FiguresView.of(f) for f in r.by_user],
            by_account=[FiguresView.of(f) for f in r.by_account],
            burn_rate=None if r.burn_rate is None else ReportBurnRateView.of(r.burn_rate),
        )


# ---------------------------------------------------------------- account statement


class BalancesView(View):
    limit: Money
    used: Money
    held: Money
    available: Money

    @classmethod
    def of(cls, b: Balances) -> BalancesView:
        return cls(limit=b.limit, used=b.used, held=b.held, available=b.available)


class KindTotalView(View):
    kind: str
    count: int
    amount: Money
    limit_delta: Money
    used_delta: Money
    held_delta: Money

    @classmethod
    def of(cls, t: KindTotal) -> KindTotalView:
        return cls(
            kind=t.kind,
            count=t.count,
            amount=t.amount,
            limit_delta=t.limit_delta,
            used_delta=t.used_delta,
            held_delta=t.held_delta,
        )


class StatementRowView(View):
    """One journal row of the statement, with the account's balances just after it."""

    entry_id: int
    time: ReportTime
    kind: str
    amount: Money
    limit_delta: Money
    used_delta: Money
    held_delta: Money
    limit: Money
    used: Money
    held: Money
    available: Money
    partition: str | None
    user: str | None
    job_id: str | None
    hold_id: str | None
    counterparty: str | None
    """For transfers: the account on the other side."""
    memo: str
    actor: str
    source: str

    @classmethod
    def of(cls, r: StatementRow) -> StatementRowView:
        return cls(
            entry_id=r.entry_id,
            time=r.time,
            kind=r.kind,
            amount=r.amount,
            limit_delta=r.limit_delta,
            used_delta=r.used_delta,
            held_delta=r.held_delta,
            **dict(BalancesView.of(r.after)),
            partition=r.partition,
            user=r.user,
            job_id=r.job_id,
            hold_id=r.hold_id,
            counterparty=r.counterparty,
            memo=r.memo,
            actor=r.actor,
            source=r.source,
        )


class StatementView(View):
    """An account's statement for whole UTC days (docs/reports.md)."""

    account: str
    description: str
    since: date
    until: date
    generated_at: ReportTime
    opening: BalancesView
    """As of 00:00 UTC on `since`."""
    closing: BalancesView
    """As of 24:00 UTC on `until` (today's balances when `until` is today or later)."""
    totals: list[KindTotalView]
    rows: list[StatementRowView]

    @classmethod
    def of(cls, st: Statement) -> StatementView:
        return cls(
            account=st.account,
            description=st.description,
            since=st.since,
            until=st.until,
            generated_at=st.generated_at,
            opening=BalancesView.of(st.opening),
            closing=BalancesView.of(st.closing),
            totals=[KindTotalView.of(t) for t in st.totals],
            rows=[StatementRowView.of(r) for r in st.rows],
        )
