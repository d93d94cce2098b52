"""Reload time when few files changed, against a full load, side by side with another revision.

For each code version (this checkout, and with --baseline REV that revision's code) a
synthetic glossary (bench/synthetic.py) is loaded into a fresh database (SQLite, and with
--postgres a fresh PostgreSQL schema); then the same glossary with ``--edited`` terms'
summaries changed is loaded again, as `kb load` would after ten edited files. Both loads are
timed in the code version's own process. Results are appended to bench/RESULTS.md.

    .venv/bin/python bench/bench_reload.py [--size 100000] [--edited 10] [--postgres]
        [--baseline main]
"""

import argparse
import datetime
import pickle
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import checkout, machine_line, publish, run_script
from bench_search import drop_schema, postgres_schema_url
from synthetic import synthetic_glossary

ROOT = Path(__file__).resolve().parent.parent
# Run in the code version's own directory: schema, a timed load, a timed reload.
_LOADS = """
import pickle, sys, time
from kb import db, loader
with open(sys.argv[2], "rb") as file:
    first, second = pickle.load(file)
engine = db.make_engine(sys.argv[1])
db.migrate(engine)
for glossary in (first, second):
    start = time.perf_counter()
    loader.load(engine, glossary)
    print(time.perf_counter() - start)
"""


def loads(code: Path, url: str, glossaries: Path) -> tuple[float, float]:
    """Seconds of ``code``'s full load and of its reload after the edits."""
    full, reload = (float(word) for word in run_script(code, _LOADS, url, str(glossaries))[-2:])
    return full, reload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--edited", type=int, default=10)
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    options = parser.parse_args()
    glossary = synthetic_glossary(options.size)
    terms = list(glossary.terms)
    step = max(1, len(terms) // options.edited)
    for i in range(0, step * options.edited, step):
        terms[i] = terms[i].model_copy(update={"summary": f"Edited. {terms[i].summary}"[:300]})
    edited = replace(glossary, terms=terms, version=glossary.version + "-edited")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        glossaries = Path(tmp) / "glossaries.pickle"
        glossaries.write_bytes(pickle.dumps((glossary, edited)))
        codes = [("this", ROOT)]
        if options.baseline:
            codes.insert(0, (options.baseline, checkout(options.baseline, Path(tmp) / "base")))
        for i, (label, code) in enumerate(codes):
            full, reload = loads(code, f"sqlite:///{tmp}/{i}.sqlite3", glossaries)
            rows.append(("SQLite", label, full, reload))
            print(rows[-1], flush=True)
            if options.postgres:
                url, schema = postgres_schema_url()
                try:
                    full, reload = loads(code, url, glossaries)
                finally:
                    drop_schema(schema)
                rows.append(("PostgreSQL", label, full, reload))
                print(rows[-1], flush=True)
    lines = [
        f"## Reload after {options.edited} edited files, {datetime.date.today().isoformat()}",
        "",
        machine_line(),
        f"- {options.size:,} synthetic terms loaded into a fresh database, then the same"
        f" glossary with {options.edited} summaries changed loaded again (`loader.load`)",
        "",
        "| backend | code | full load s | reload s | reload / full |",
        "|---|---|---|---|---|",
        *(
            f"| {backend} | {label} | {full:.1f} | {reload:.1f} | {reload / full:.2f} |"
            for backend, label, full, reload in sorted(rows)
        ),
        "",
    ]
    report = "\n".join(lines)
    publish(report, write=not options.no_write)


if __name__ == "__main__":
    main()
