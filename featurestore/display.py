"""Small tables as text and as HTML, in the style of polars: what the notebook and terminal reprs of
diffs, training sets, online responses, views and services are made of. Standard library only.

>>> t = Table("2 rows", ("name", "value"), (("a", "1"), ("b<", "null")), dtypes=("string", "int64"))
>>> print(t.text())
2 rows
┌────────┬───────┐
│ name   ┆ value │
│ ---    ┆ ---   │
│ string ┆ int64 │
╞════════╪═══════╡
│ a      ┆ 1     │
│ b<     ┆ null  │
└────────┴───────┘
>>> "<td>b&lt;</td>" in t.html()
True
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

WIDTH = 48
"""The widest a text cell gets: longer text wraps onto more lines (HTML leaves wrapping to the browser)."""
_VALUE_WIDTH = 40  # a value (a feature's, an entity key's) longer than this is cut with an ellipsis


@dataclass(frozen=True)
class Table:
    """A titled table of text cells; ``dtypes`` (one per column) shows under the header, ``notes``
    (one line each) after the table."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    dtypes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        """The table drawn with box characters, cells wrapped at :data:`WIDTH` characters."""
        header = [_wrap(c) for c in self.columns]
        dtypes = [_wrap(d) for d in self.dtypes]
        body = [[_wrap(c) for c in row] for row in self.rows]
        widths = [
            max(
                [3, *(len(x) for x in header[i])]
                + [len(x) for x in (dtypes[i] if dtypes else [])]
                + [len(x) for row in body for x in row[i]]
            )
            for i in range(len(self.columns))
        ]

        def line(cells: Sequence[list[str]]) -> list[str]:
            height = max((len(c) for c in cells), default=1)
            return [
                "│ "
                + " ┆ ".join(
                    (cell[k] if k < len(cell) else "").ljust(widths[i]) for i, cell in enumerate(cells)
                )
                + " │"
                for k in range(height)
            ]

        def rule(left: str, fill: str, mid: str, right: str) -> str:
            return left + mid.join(fill * (w + 2) for w in widths) + right

        out = [self.title] if self.title else []
        if not self.columns:
            return "\n".join([*out, *self.notes])
        out.append(rule("┌", "─", "┬", "┐"))
        out.extend(line(header))
        if dtypes:
            out.extend(line([["---"]] * len(widths)))
            out.extend(line(dtypes))
        out.append(rule("╞", "═", "╪", "╡"))
        for row in body:
            out.extend(line(row))
        out.append(rule("└", "─", "┴", "┘"))
        out.extend(self.notes)
        return "\n".join(out)

    def html(self) -> str:
        """The table as well-formed HTML (every string escaped), the title above it, notes below."""
        parts = ['<div class="featurestore">']
        if self.title:
            parts.append(f"<p><b>{escape(self.title)}</b></p>")
        if self.columns:
            parts.append('<table border="1" class="dataframe"><thead><tr>')
            parts.extend(f"<th>{escape(c)}</th>" for c in self.columns)
            parts.append("</tr>")
            if self.dtypes:
                parts.append("<tr>")
                parts.extend(f"<td><i>{escape(d)}</i></td>" for d in self.dtypes)
                parts.append("</tr>")
            parts.append("</thead><tbody>")
            for row in self.rows:
                parts.append("<tr>")
                parts.extend(f"<td>{escape(c)}</td>" for c in row)
                parts.append("</tr>")
            parts.append("</tbody></table>")
        parts.extend(f"<p>{escape(n)}</p>" for n in self.notes)
        parts.append("</div>")
        return "".join(parts)


def arrow_table(title: str, table: Any, notes: Sequence[str] = ()) -> Table:
    """A :class:`Table` of a ``pyarrow.Table``'s rows, its Arrow types under the header (the table is
    read through its methods: pyarrow is not imported here)."""
    names = tuple(table.column_names)
    rows = tuple(tuple(cell(row[n]) for n in names) for row in table.to_pylist())
    dtypes = tuple(str(table.schema.field(n).type) for n in names)
    return Table(title, names, rows, dtypes, tuple(notes))


def text(tables: Iterable[Table]) -> str:
    """Several tables as text, a blank line between them."""
    return "\n\n".join(t.text() for t in tables)


def html_of(tables: Iterable[Table]) -> str:
    """Several tables as one HTML block."""
    return '<div class="featurestore">' + "".join(t.html() for t in tables) + "</div>"


def escape(value: str) -> str:
    """HTML-escape a string, quotes included; control characters shown as escapes.

    >>> escape("<b>'x' & \\"y\\"</b>")
    '&lt;b&gt;&#x27;x&#x27; &amp; &quot;y&quot;&lt;/b&gt;'
    """
    return html.escape(_printable(value), quote=True)


def count(n: int) -> str:
    """A count with thousands separators.

    >>> count(336776)
    '336,776'
    """
    return f"{n:,}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the word, singular or plural.

    >>> plural(1, "row"), plural(336776, "row"), plural(2, "entity", "entities")
    ('1 row', '336,776 rows', '2 entities')
    """
    return f"{count(n)} {word if n == 1 else (words or word + 's')}"


def duration(delta: timedelta | None) -> str:
    """A duration in its largest whole unit; ``None`` reads ``none``.

    >>> duration(timedelta(days=7)), duration(timedelta(minutes=90)), duration(None)
    ('7d', '90m', 'none')
    """
    if delta is None:
        return "none"
    micros = delta // timedelta(microseconds=1)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}us"


def cell(value: Any) -> str:
    """A value as a table shows it: ``null``, ``true``, times without a ``T``, long text cut.

    >>> cell(None), cell(True), cell(0.1 + 0.2), cell(datetime(2024, 1, 5, 9, 30)), cell("x" * 50)[-3:]
    ('null', 'true', '0.30000000000000004', '2024-01-05 09:30:00', 'xx…')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, bytes):
        value = value.hex()
    text = value if isinstance(value, str) else repr(value)
    return _cut(_printable(text), _VALUE_WIDTH)


def _printable(text: str) -> str:
    """Newlines, tabs and other control characters as escapes: one cell stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(_printable(text), WIDTH, break_on_hyphens=False) or [""]
