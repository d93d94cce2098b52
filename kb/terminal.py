"""API answers as terminal text: a term, search results, related terms, a demo run.

Every function takes the API's response models (whether they came over HTTP or from the local
database) and a width in columns, and returns text. Bold is written as ANSI styles, which
``typer.echo`` drops when the output is not a terminal; nothing else depends on a terminal.
"""

import html
import itertools
import json
import math
import re
import textwrap
from collections.abc import Callable, Sequence

import click
import typer

from kb.demos.base import JsonSeries, MetricValue
from kb.demos.schemas import DemoRun
from kb.schemas import RelatedList, SearchPage, TermDetail

ELLIPSIS = "…"
GAP = "  "
MIN_COLUMN = 8
"""The narrowest a column of text is cut to when a table is too wide."""
MARKS = "*+ox#@%&=~"
"""One per line of a text plot, in order."""

Segments = list[tuple[str, bool]]
"""Text in pieces, each bold or not."""
Cell = str | Segments
Points = list[tuple[float, float]]


def _bold(text: str) -> str:
    return typer.style(text, bold=True)


def _plain(cell: Cell) -> str:
    return cell if isinstance(cell, str) else "".join(text for text, _ in cell)


def _fit(cell: Cell, width: int) -> str:
    """The cell cut to ``width`` characters (ending in an ellipsis if cut), styled."""
    segments = [(cell, False)] if isinstance(cell, str) else cell
    if len(_plain(cell)) > width:
        room, kept = max(width - 1, 0), []
        for text, bold in segments:
            kept.append((text[:room], bold))
            room -= len(kept[-1][0])
        segments = [*kept, (ELLIPSIS, False)] if width > 0 else []
    return "".join(_bold(text) if bold and text else text for text, bold in segments)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], width: int, right: Sequence[int] = ()
) -> list[str]:
    """Columns as wide as their widest cell, two spaces apart, bold headers, those in
    ``right`` right-aligned (numbers). While the table is wider than ``width``, its widest
    column of text loses a character (cells cut end in an ellipsis), down to the width of its
    header or ``MIN_COLUMN``, whichever is more."""
    widths = [max([len(h), *(len(_plain(row[i])) for row in rows)]) for i, h in enumerate(headers)]
    floors = [max(len(h), MIN_COLUMN) for h in headers]
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0:
        cuttable = [i for i in range(len(widths)) if i not in right and widths[i] > floors[i]]
        if not cuttable:
            break
        widths[max(cuttable, key=lambda i: (widths[i], i))] -= 1
        excess -= 1
    lines = []
    every: list[tuple[Sequence[Cell], bool]] = [(headers, True), *((row, False) for row in rows)]
    for row, style in every:
        cells = []
        for i, cell in enumerate(row):
            text = _fit(cell, widths[i])
            pad = " " * (widths[i] - min(len(_plain(cell)), widths[i]))
            if style:
                text = _bold(text)
            cells.append(pad + text if i in right else text + (pad if i < len(row) - 1 else ""))
        lines.append(GAP.join(cells).rstrip())
    return lines


def number(value: MetricValue) -> str:
    """A metric for reading: 4 significant digits, ``-`` for null (non-finite or absent)."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


# --- a term ----------------------------------------------------------------------------------


def render_term(term: TermDetail, width: int = 88) -> str:
    """A term as readable terminal text, with its related terms and references."""
    wrap = textwrap.TextWrapper(width=width)
    lines = [_bold(term.name)]
    if term.aliases:
        lines.append(f"also: {', '.join(term.aliases)}")
    lines += [f"{term.category.name} · {term.kind} · {term.slug}", "", *wrap.wrap(term.summary), ""]
    for paragraph in term.body.split("\n\n"):
        keep = paragraph.startswith(("$$", "#", "-", "|", "```", "    "))
        lines += [paragraph] if keep else wrap.wrap(paragraph)
        lines.append("")
    if term.related:
        lines.append(_bold("Related"))
        indent = " " * 18
        for r in term.related:
            line = f"  {r.relation.value:<15} {r.name} ({r.slug})"
            lines += textwrap.wrap(line, width, subsequent_indent=indent)
        lines.append("")
    if term.references:
        lines.append(_bold("References"))
        for ref in term.references:
            cited = f"{', '.join(ref.authors)} ({ref.year}). {ref.title}. {ref.venue}."
            lines += textwrap.wrap(cited, width, initial_indent="  ", subsequent_indent="    ")
            lines.append(f"    {ref.url}")  # a URL is never broken
    if term.demo is not None:
        lines += ["", f"Demo: kb demo {term.slug}"]
    return "\n".join(lines).rstrip() + "\n"


# --- search results and related terms ---------------------------------------------------------

_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def snippet(marked: str) -> Segments:
    """A search snippet (HTML-escaped, matches in ``<mark>``) as text with the matches bold."""
    segments: Segments = []
    for i, part in enumerate(_MARK.split(marked)):
        text = re.sub(r"\s+", " ", html.unescape(part))
        if not segments or segments[-1][0].endswith(" "):
            text = text.lstrip()
        if text:
            segments.append((text, i % 2 == 1))
    return segments


def render_search(page: SearchPage, width: int) -> str:
    shown = len(page.items)
    head = f"{page.total} result{'s' if page.total != 1 else ''} for {page.query!r}"
    if page.did_you_mean is not None:
        head += f" (did you mean {page.did_you_mean!r}?)"
    lines = [head]
    if shown:
        rows: list[list[Cell]] = [
            [str(page.offset + i), r.name, r.slug, r.kind, snippet(r.snippet)]
            for i, r in enumerate(page.items, start=1)
        ]
        lines += ["", *table(["#", "term", "slug", "kind", "match"], rows, width, right=[0])]
    if page.offset + shown < page.total:
        lines += [
            "",
            f"{page.offset + 1}-{page.offset + shown} of {page.total}; "
            f"--offset {page.offset + shown} shows more",
        ]
    return "\n".join(lines) + "\n"


def render_related(related: RelatedList, width: int) -> str:
    links = f"{related.depth} link{'s' if related.depth > 1 else ''}"
    following = f", following {related.relation.value}" if related.relation else ""
    head = f"{len(related.items)} terms up to {links} from {related.term}{following}"
    if not related.items:
        return head.replace(f"{len(related.items)} terms", "No terms", 1) + "\n"
    headers = ["links", "relation", "term", "slug", "via"]
    rows: list[list[Cell]] = []
    for n in related.items:
        via = " → ".join(f"{step.relation.value} {step.target}" for step in n.path[:-1])
        rows.append([str(n.distance), n.relation.value, n.name, n.slug, via])
    if related.depth == 1:
        headers, rows = headers[1:-1], [row[1:-1] for row in rows]
    lines = table(headers, rows, width, right=[0] if related.depth > 1 else [])
    return "\n".join([head, "", *lines]) + "\n"


# --- a demo run -------------------------------------------------------------------------------


def _metrics(metrics: dict[str, MetricValue], width: int) -> list[str]:
    """Metrics named ``part.measure`` as a table with a row per part and a column per
    measure (when that fits), the others as name and value."""
    parts: dict[str, dict[str, MetricValue]] = {}
    single: dict[str, MetricValue] = {}
    for name, value in metrics.items():
        part, dot, measure = name.rpartition(".")
        if dot:
            parts.setdefault(part, {})[measure] = value
        else:
            single[name] = value
    measures = list(dict.fromkeys(m for values in parts.values() for m in values))
    lines: list[str] = []
    if len(parts) > 1:
        rows = [[part, *(number(v.get(m)) for m in measures)] for part, v in parts.items()]
        # Built without a width limit: a grid that does not fit is not cut but given up.
        grid = table(["", *measures], rows, 1 << 30, right=range(1, len(measures) + 1))
        if max(len(click.unstyle(line)) for line in grid) <= width:
            lines += [*grid, ""]
            parts = {}
    flat = [(f"{p}.{m}", v) for p, values in parts.items() for m, v in values.items()]
    flat += list(single.items())
    if flat:
        lines += table(["metric", "value"], [[n, number(v)] for n, v in flat], width, right=[1])
    return lines


def _points(values: JsonSeries) -> Points | None:
    """A series as (x, y) points with x never decreasing (1-D series: x is the index);
    None if it is not such a curve. Null values are left out."""
    points: Points = []
    for i, value in enumerate(values):
        if isinstance(value, list):
            x, y = value
        else:
            x, y = float(i), value
        if x is not None and y is not None:
            points.append((x, y))
    if len(points) < 2 or any(b[0] < a[0] for a, b in itertools.pairwise(points)):
        return None
    return points


def curves(series: dict[str, JsonSeries]) -> dict[str, dict[str, Points]]:
    """Series that are curves, grouped by the part of their name before ``/`` (``loss/adam``
    and ``loss/sgd`` are group ``loss``); a group with anything else in it is left out."""
    groups: dict[str, dict[str, Points]] = {}
    rejected: set[str] = set()
    for name, values in series.items():
        group, _, label = name.partition("/")
        points = _points(values)
        if points is None:
            rejected.add(group)
        else:
            groups.setdefault(group, {})[label or group] = points
    return {group: lines for group, lines in groups.items() if group not in rejected}


def _interpolate(points: Points, x: float) -> float | None:
    if x < points[0][0] or x > points[-1][0]:
        return None
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def text_plot(title: str, lines: dict[str, Points], width: int, height: int = 12) -> list[str]:
    """Curves drawn with one character each (``*``, ``+``, ``o``, ...; the first on top) on a
    grid of ``height`` rows that fits ``width`` columns, each curve sampled once per column;
    a log scale when every value is positive and they span more than three decades."""
    x_low = min(points[0][0] for points in lines.values())
    x_high = max(points[-1][0] for points in lines.values())
    labels = [number(x_low), number(x_high)]
    columns = max(min(width - 12, 100), 10)
    xs = [x_low + (x_high - x_low) * column / (columns - 1) for column in range(columns)]
    sampled = {name: [_interpolate(points, x) for x in xs] for name, points in lines.items()}
    ys = [y for values in sampled.values() for y in values if y is not None]
    log = min(ys) > 0 and max(ys) / min(ys) > 1e3
    scale: Callable[[float], float] = math.log10 if log else float
    low, high = scale(min(ys)), scale(max(ys))
    marks = [MARKS[i % len(MARKS)] for i in range(len(lines))]
    grid = [[" "] * columns for _ in range(height)]
    for mark, values in reversed(list(zip(marks, sampled.values(), strict=True))):
        for column, y in enumerate(values):
            if y is not None:
                level = 0.5 if high == low else (scale(y) - low) / (high - low)
                grid[height - 1 - round(level * (height - 1))][column] = mark
    y_labels = [number(max(ys)), number(min(ys))]
    margin = max(len(label) for label in y_labels)
    rows = []
    for i, cells in enumerate(grid):
        label = y_labels[0] if i == 0 else y_labels[1] if i == height - 1 else ""
        rows.append(f"{label:>{margin}} |{''.join(cells)}".rstrip())
    legend = GAP.join(f"{mark} {name}" for mark, name in zip(marks, lines, strict=True))
    return [
        _bold(title) + (" (log scale)" if log else ""),
        *rows,
        f"{'':>{margin}} +{'-' * columns}",
        f"{'':>{margin}}  {labels[0]}{labels[1]:>{max(columns - len(labels[0]), 1)}}",
        *textwrap.wrap(legend, width),
    ]


def pick_curves(series: dict[str, JsonSeries], group: str | None) -> tuple[str, dict[str, Points]]:
    """The group of curves to plot: ``group`` if given, else a loss if there is one, else
    the first. Raises ``KeyError`` (naming the groups there are) if there is no such group."""
    found = curves(series)
    if group is None:
        losses = [name for name in found if "loss" in name]
        group = (losses or list(found) or [""])[0]
    if group not in found:
        raise KeyError(group, sorted(found))
    return group, found[group]


def _param(value: object) -> str:
    """A parameter value as ``kb demo -p`` takes it: lists comma-separated, rows by ``;``."""
    if isinstance(value, list):
        return (";" if value and isinstance(value[0], list) else ",").join(map(_param, value))
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def render_run(run: DemoRun, width: int, plot: tuple[str, dict[str, Points]] | None) -> str:
    timing = f"{run.elapsed_ms:.1f} ms" + (", cached" if run.cached else "")
    head = f"{_bold(run.demo)} demo of {run.term}, seed {run.seed} ({timing})"
    settings = ", ".join(f"{name}={_param(value)}" for name, value in run.params.items())
    lines = [head, *textwrap.wrap(f"parameters: {settings}", width, subsequent_indent="  ")]
    lines += ["", *_metrics(run.metrics, width)]
    if plot is not None:
        lines += ["", *text_plot(plot[0], plot[1], width)]
    lines += ["", *textwrap.wrap(f"reference: {', '.join(run.reference)}", width)]
    return "\n".join(lines) + "\n"
