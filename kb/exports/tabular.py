"""The glossary as CSV (one row per term, for spreadsheets) and JSON Lines (one full record per
line, for programs), each produced a record at a time.

CSV columns: ``slug, name, aliases, category, kind, summary, demo, related, references, body``.
Lists are joined: ``aliases`` with ``"; "``; ``related`` as ``relation:slug`` items joined with
``"; "``, every link of the term with the relation as seen from it (``has-variant:adamw``),
as the API's term record lists them; ``references`` as the references' URLs joined with a space
(a URL holds no white space), the one field a spreadsheet can link to. An alias that itself
contains ``"; "`` cannot be told apart there: the JSON Lines export has every list exactly.

A JSON Lines record is a term in the shape of its data file (``kb.schemas.TermIn``: ``related``
as written in the file), plus ``category_name`` and ``links``: every link the term takes part
in, as ``{source, relation, target}`` in the one direction it is stored in (``kb.relations``).
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from kb.exports.records import TermRecord
from kb.schemas import CategoryIn

CSV_COLUMNS = "slug name aliases category kind summary demo related references body".split()
LIST_SEPARATOR = "; "
# json.dumps escapes the ASCII control characters but not these, which str.splitlines() and
# some JSON Lines readers take for line ends.
_LINE_BREAKS = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})


class _Line(io.StringIO):
    """A CSV writer's target that hands back each row as it is written."""

    def take(self) -> str:
        text = self.getvalue()
        self.seek(0)
        self.truncate()
        return text


def csv_header() -> str:
    line = _Line()
    csv.writer(line).writerow(CSV_COLUMNS)
    return line.take()


def csv_rows(records: Iterable[TermRecord]) -> Iterator[str]:
    """One CSV line per term (RFC 4180: quoted where needed, CRLF line ends)."""
    line = _Line()
    writer = csv.writer(line)
    for record in records:
        term = record.term
        writer.writerow(
            [
                term.slug,
                term.name,
                LIST_SEPARATOR.join(term.aliases),
                term.category,
                term.kind,
                term.summary,
                term.demo or "",
                LIST_SEPARATOR.join(f"{r.value}:{slug}" for r, slug in record.seen_from_term()),
                " ".join(reference.url for reference in term.references),
                term.body,
            ]
        )
        yield line.take()


def jsonl_lines(records: Iterable[TermRecord], categories: Iterable[CategoryIn]) -> Iterator[str]:
    names = {category.slug: category.name for category in categories}
    for record in records:
        data = record.term.model_dump(mode="json")
        data["category_name"] = names[record.term.category]
        data["links"] = [
            {"source": link.source, "relation": link.relation.value, "target": link.target}
            for link in record.links
        ]
        yield json.dumps(data, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"
