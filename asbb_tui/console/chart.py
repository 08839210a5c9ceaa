"""The burn-rate chart: cumulative spend against the expected line, the limit, an 80% warning
line and the projection to the period's end, drawn with plotext into a Static.

``burn_rate_plot`` is pure string building (no database, no widgets), so the chart is redrawn
on the UI thread on resize and whenever its ``BurnRate`` changes; the ``BurnRate`` itself is
computed in a worker (``asbb_core.analytics.burnrate``). Plot coordinates are floats -- they only
place
characters on screen; every figure shown as text goes through ``format_money``.

plotext 6 replaced the 5.x module-level API (``plt.clear_figure()``, ``plt.plotsize()``...)
with one master figure, ``plotext.figure``: signals are built, then ``draw``n, then ``build()``
returns a matrix whose ``string()`` is ANSI text (rendered with ``Text.from_ansi``). The master
figure is global, so it is only touched on the UI thread, one chart at a time.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import plotext
from rich.text import Text
from textual.events import Resize
from textual.widgets import Static

from asbb_core.analytics.burnrate import BurnRate
from asbb_core.values.money import ZERO, format_money

WARNING_SHARE = Decimal("0.8")
MIN_WIDTH = 30
MIN_HEIGHT = 8


def step_window(windows: tuple[str, ...], current: str, step: int) -> str:
    """The window ``step`` places after ``current`` in ``windows`` (wrapping around)."""
    index = windows.index(current) if current in windows else 0
    return windows[(index + step) % len(windows)]


def cumulative_spend(rate: BurnRate) -> list[Decimal]:
    """Spend to date at the end of each day of the window: what was spent before the window
    (``spent_to_date - spent``) plus the running sum of the daily spend."""
    total = rate.spent_to_date - rate.spent
    out = []
    for day in rate.daily:
        total += day.actual
        out.append(total)
    return out


def cumulative_expected(rate: BurnRate) -> list[Decimal] | None:
    """The expected path from the same starting point (``None``: nothing to compare with)."""
    if not rate.daily or any(day.expected is None for day in rate.daily):
        return None
    total = rate.spent_to_date - rate.spent
    out = []
    for day in rate.daily:
        total += day.expected or Decimal(0)
        out.append(total)
    return out


def projection_end(rate: BurnRate) -> date | None:
    """Where the drawn projection stops: the period's end (else the exhaustion date), but at
    most one window ahead, so the window's own spend keeps half the chart."""
    if not rate.daily:
        return None
    last = rate.daily[-1].day
    ahead = last + timedelta(days=max(rate.days, 7))
    end = rate.end_date or rate.projected_exhaustion or ahead
    end = min(end, ahead)
    return end if end > last else None


def compact_money(amount: Decimal) -> str:
    """``$23.5k`` for axis ticks (the full figure is in the labels)."""
    value = abs(amount)
    sign = "-" if amount < 0 else ""
    for size, suffix in ((Decimal(10**6), "M"), (Decimal(1000), "k")):
        if value >= size:
            return f"{sign}${(value / size).quantize(Decimal('0.1')).normalize():f}{suffix}"
    return f"{sign}${value.quantize(Decimal(1))}"


def burn_rate_plot(rate: BurnRate, width: int, height: int, *, colour: bool = True) -> str:
    """The chart as an ANSI string of at most ``width`` x ``height`` cells: the plot, then one
    or two caption lines naming the lines and the projection."""
    width, height = max(width, MIN_WIDTH), max(height, MIN_HEIGHT)
    fig = plotext.figure
    fig.clear.all()
    fig.theme("simple" if colour else "colorless")
    fig.legend(False)  # the lines are labelled in place and in the caption: no box over data
    fig.title(f"{rate.name}  {rate.window}  spent {format_money(rate.spent)}")

    def pixel(name: str) -> plotext.pixel | None:
        return plotext.pixel(foreground=name) if colour else None

    budget, warning = rate.budget, rate.budget * WARNING_SHARE
    caption = ["━ spent"]
    last_x = 0
    top = budget
    if rate.daily:
        start = rate.daily[0].day
        xs = [(d.day - start).days for d in rate.daily]
        spent = cumulative_spend(rate)
        top = max(top, *spent)
        last_x = xs[-1]

        expected = cumulative_expected(rate)
        if expected is not None:
            line = fig.signal(xs, [float(v) for v in expected], marker="·")
            line.lines()
            fig.draw(line)
            caption.append(f"· expected {format_money(rate.expected_daily or ZERO)}/day")

        end = projection_end(rate)
        if end is not None:
            ahead = (end - rate.daily[-1].day).days
            final = spent[-1] + rate.actual_daily * ahead
            projected = fig.signal(
                [last_x, last_x + ahead], [float(spent[-1]), float(final)], marker="+"
            )
            projected.lines()
            fig.draw(projected)
            last_x += ahead
            top = max(top, final)
            caption.append(f"+ projection {format_money(final)} by {end.isoformat()}")
        signal = fig.signal(xs, [float(v) for v in spent])  # drawn last: on top
        signal.lines()
        fig.draw(signal)
        ticks = sorted({0, last_x // 2, last_x})
        pattern = "%Y-%m" if last_x > 300 else "%m-%d"
        fig.ruler(0).ticks(ticks, [(start + timedelta(days=x)).strftime(pattern) for x in ticks])
        fig.ruler(0).lim(0, max(last_x, 1))
    if rate.projected_exhaustion is not None:
        caption.append(f"runs out {rate.projected_exhaustion.isoformat()}")

    fig.line(float(budget), pixel=pixel("red"))
    fig.line(float(warning), pixel=pixel("yellow"))
    # The limit's label last: it wins when both lines share a row on a short chart.
    fig.draw(fig.text(0, float(warning), f"80% {format_money(warning)}"))
    fig.draw(fig.text(0, float(budget), f"limit {format_money(budget)}"))
    if not rate.daily:
        fig.ruler(0).lim(0, 1)
        fig.ruler(0).ticks([0.0], [""])  # no days: no meaningless 0..1 scale
    fig.ruler(1).ticks(
        [0.0, float(warning), float(budget)], ["0", compact_money(warning), compact_money(budget)]
    )
    fig.ruler(1).lim(0, float(top) * 1.05 if top > 0 else 1)
    lines = caption_lines(caption, width)
    fig.plot_size(width, height - len(lines))
    drawn = str(fig.build().string(colorless=not colour)).rstrip("\n")
    return drawn + "\n" + "\n".join(lines)


def caption_lines(items: list[str], width: int, most: int = 2) -> list[str]:
    """``items`` joined by two spaces into at most ``most`` lines of ``width`` (the items do
    not break; what does not fit in the last line is cut)."""
    lines = [""]
    for item in items:
        joined = f"{lines[-1]}  {item}" if lines[-1] else item
        if len(joined) <= width or not lines[-1]:
            lines[-1] = joined
        elif len(lines) < most:
            lines.append(item)
        else:
            lines[-1] = joined
    return [line[:width] for line in lines]


class BurnRateChart(Static):
    """A ``BurnRate`` drawn to the widget's size; set ``rate`` to redraw."""

    DEFAULT_CSS = """
    BurnRateChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, rate: BurnRate | None = None, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._rate = rate
        self.empty_text = "no burn-rate data yet"
        """What is shown while there is no ``rate`` (e.g. why there is none)."""
        self.text = ""
        """The last plot drawn, as plain text (what tests and screen readers look at)."""

    def show_message(self, text: str) -> None:
        """No chart, and why (e.g. the grant has no budget periods)."""
        self.empty_text = text
        self.rate = None

    @property
    def rate(self) -> BurnRate | None:
        return self._rate

    @rate.setter
    def rate(self, value: BurnRate | None) -> None:
        self._rate = value
        self.redraw()

    def on_mount(self) -> None:
        self.redraw()

    def on_resize(self, event: Resize) -> None:
        self.redraw()

    def _colour(self) -> bool:
        system = self.app.console.color_system
        return system not in (None, "standard", "windows")  # 16 colours: plain chart

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        if self._rate is None:
            self.text = self.empty_text
            self.update(self.text)
            return
        width, height = self.content_size.width, self.content_size.height
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            width, height = max(width, MIN_WIDTH), max(height, MIN_HEIGHT)
        drawn = burn_rate_plot(self._rate, width, height, colour=self._colour())
        rendered = Text.from_ansi(drawn, no_wrap=True)
        self.text = rendered.plain
        self.update(rendered)
