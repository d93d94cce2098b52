"""Search by meaning: term vectors from `reference.bert`, kept per term digest, ranked by cosine.

Each term gets unit vectors of a few texts (``term_texts``: its names and summary, then its
body's paragraphs), stored in ``term_vector`` under the term's digest, so a reload or an edit
recomputes only the terms whose record changed. The computing happens in a background thread
of each worker (progress in the log); a search meanwhile uses the vectors already there. Each
worker holds all vectors as one in-memory matrix, re-read when the data version moves on or
new vectors arrive (and then ``on_change`` drops the cached responses). A term's score for a
query is its best cosine over its texts.
"""

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from kb import encoder_files, repository
from kb.db import WRITE_LOCK
from reference.bert import BertEncoder

log = logging.getLogger(__name__)

# The encoder and the recipe of ``term_texts``: vectors made otherwise are recomputed.
MODEL_ID = "all-MiniLM-L6-v2/names-summary-paragraph-1"
BODY_PARTS = 1  # paragraphs of the body embedded besides the head
BODY_PART_CHARS = 600
BATCH = 32  # terms embedded and written per transaction
QUERY_CACHE = 1024  # query vectors kept per worker
RELOAD_EVERY_S = 5.0  # while computing, how often searches get the vectors made so far

State = Literal["off", "computing", "ready"]
Item = TypeVar("Item", bound=Hashable)
Vector = NDArray[np.float32]


def _plain(markdown: str) -> str:
    """Markdown as a reader sees it, roughly: no formulas' markup, links' targets or emphasis."""
    prose = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.S)
    prose = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", prose)
    prose = re.sub(r"[*_`#>|]+", " ", prose)
    return " ".join(prose.split())


def term_texts(name: str, aliases: Sequence[str], summary: str, body: str) -> list[str]:
    """What a term's vectors are made of: its names with its summary, then the first
    ``BODY_PARTS`` paragraphs of its body (each cut to ``BODY_PART_CHARS``)."""
    names = name + (f" ({', '.join(aliases)})" if aliases else "")
    paragraphs = [_plain(p) for p in re.split(r"\n\s*\n", body)]
    parts = [p[:BODY_PART_CHARS] for p in paragraphs if len(p) > 40][:BODY_PARTS]
    return [f"{names}: {summary}", *(f"{name}: {p}" for p in parts)]


@dataclass(frozen=True)
class TermInfo:
    slug: str
    category: str
    kind: str


@dataclass(frozen=True)
class Matrix:
    """Every stored vector of the current terms, grouped by term (rows of a term together)."""

    version: str | None
    vectors: NDArray[np.float32]  # (rows, dim)
    starts: NDArray[np.intp]  # first row of each term
    term_ids: NDArray[np.int64]  # one per term, in the order of ``starts``
    info: dict[int, TermInfo]
    terms: int  # terms in the database, with vectors or not

    @classmethod
    def empty(cls, dim: int) -> "Matrix":
        return cls(
            None,
            np.zeros((0, dim), np.float32),
            np.zeros(0, np.intp),
            np.zeros(0, np.int64),
            {},
            0,
        )

    def scores(self, query: Vector) -> NDArray[np.float32]:
        """Each term's best cosine with ``query``, in the order of ``term_ids``."""
        if not len(self.term_ids):
            return np.zeros(0, np.float32)
        return np.maximum.reduceat(self.vectors @ query, self.starts)


class SemanticIndex:
    """The encoder, the vectors' matrix and the thread that computes missing vectors."""

    def __init__(
        self, engine: Engine, model_dir: Path, on_change: Callable[[], None] | None = None
    ) -> None:
        self._engine = engine
        self.model_dir = model_dir
        self._on_change = on_change
        self.encoder: BertEncoder | None = None
        self.matrix = Matrix.empty(384)
        self.computed = 0  # vectors of terms computed by this worker since it started
        self._queries: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------

    def start(self, compute: bool = True) -> None:
        """Load the encoder if its files are there (else semantic search is off, and the log
        says so), and start computing what is missing; without ``compute``, only read the
        vectors already stored (a one-off command)."""
        if not encoder_files.is_present(self.model_dir):
            log.warning(
                "semantic search is off: no model in %s (run `kb model fetch`, or set"
                " KB_MODEL_DIR); search is lexical only",
                self.model_dir,
            )
            self._idle.set()
            return
        self.encoder = _encoder(self.model_dir)
        self.matrix = Matrix.empty(self.encoder.config.hidden_size)
        log.info("semantic search is on: model in %s", self.model_dir)
        if not compute:
            with Session(self._engine) as session:
                self._reload(repository.data_version(session))
            self._idle.set()
            return
        self._thread = threading.Thread(target=self._run, name="kb-semantic", daemon=True)
        self._thread.start()
        self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def enabled(self) -> bool:
        return self.encoder is not None

    def state(self) -> tuple[State, str]:
        """Off, computing or ready, and a sentence saying so (for /health)."""
        if self.encoder is None:
            return "off", f"no model in {self.model_dir}: run `kb model fetch`"
        matrix = self.matrix
        ready = f"{len(matrix.term_ids)} of {matrix.terms} terms have vectors"
        if not self._idle.is_set():
            return "computing", ready + "; computing the rest"
        return "ready", ready

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no vectors are being computed (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def notice(self, version: str | None) -> None:
        """The data version a request saw: if the matrix is older, bring it up to date (in the
        background; searches meanwhile use the vectors already there)."""
        if self._thread is not None and version != self.matrix.version and self._idle.is_set():
            self._idle.clear()
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            self._idle.clear()
            try:
                self.refresh()
            except Exception:  # a bad moment of the database: the next request retries
                log.exception("semantic search: computing term vectors failed")
            finally:
                self._idle.set()

    # --- vectors ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Compute the vectors of terms that have none (of this model), a batch per
        transaction, drop those of terms that are gone, and re-read the matrix."""
        assert self.encoder is not None
        with Session(self._engine) as session:
            # The version before the work: if the data moves on meanwhile, the next request
            # sees a newer one than the matrix's and starts another round.
            version = repository.data_version(session)
            missing = _missing(session)
        shown = time.monotonic()
        if missing:
            log.info("semantic search: computing vectors of %d terms", len(missing))
        for start in range(0, len(missing), BATCH):
            if self._stop:
                return
            chunk = missing[start : start + BATCH]
            texts = [term_texts(r.name, r.aliases, r.summary, r.body) for r in chunk]
            flat = [t for parts in texts for t in parts]
            vectors = self.encoder.embed(flat, batch_size=BATCH)
            rows = []
            offset = 0
            for row, parts in zip(chunk, texts, strict=True):
                for part in range(len(parts)):
                    rows.append((row.digest, part, vectors[offset + part]))
                offset += len(parts)
            _store(self._engine, rows)
            self.computed += len(chunk)
            if time.monotonic() - shown > RELOAD_EVERY_S:  # searches use what is there
                self._reload(version)
                shown = time.monotonic()
            log.info(
                "semantic search: %d of %d term vectors computed",
                min(start + BATCH, len(missing)),
                len(missing),
            )
        _prune(self._engine)
        self._reload(version)

    def _reload(self, version: str | None) -> None:
        with Session(self._engine) as session:
            matrix = _read_matrix(session, self.matrix.vectors.shape[1], version)
        changed = matrix.version != self.matrix.version or len(matrix.vectors) != len(
            self.matrix.vectors
        )
        self.matrix = matrix
        if changed and self._on_change is not None:
            self._on_change()

    def embed_query(self, query: str) -> Vector:
        """The unit vector of ``query`` (recent ones are kept)."""
        assert self.encoder is not None
        key = " ".join(query.split()).casefold()
        with self._lock:
            hit = self._queries.get(key)
            if hit is not None:
                self._queries.move_to_end(key)
                return hit
        vector: Vector = self.encoder.embed([query])[0]
        with self._lock:
            self._queries[key] = vector
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def cosines(self, query: str, keep: Callable[[TermInfo], bool]) -> dict[str, float]:
        """Each term's cosine with ``query`` (the best of its texts), by slug, of the terms
        that ``keep`` keeps."""
        matrix = self.matrix
        scores = matrix.scores(self.embed_query(query)).tolist()
        info = matrix.info
        return {
            info[term_id].slug: score
            for term_id, score in zip(matrix.term_ids.tolist(), scores, strict=True)
            if keep(info[term_id])
        }

    def term_ids(self, slugs: Iterable[str]) -> dict[str, int]:
        """The ids of the terms among ``slugs`` that have vectors."""
        wanted = set(slugs)
        return {info.slug: i for i, info in self.matrix.info.items() if info.slug in wanted}

    def similar(
        self, term_id: int, limit: int, exclude: Iterable[str] = ()
    ) -> list[tuple[int, float]] | None:
        """The terms nearest to ``term_id``'s head text, without it and the slugs in
        ``exclude``; None when the term has no vectors yet."""
        matrix = self.matrix
        where = np.flatnonzero(matrix.term_ids == term_id)
        if not len(where):
            return None
        head = matrix.vectors[matrix.starts[where[0]]]
        excluded = set(exclude)
        skip = {i for i, info in matrix.info.items() if info.slug in excluded} | {term_id}
        return _best(matrix, matrix.scores(head), limit, None, skip)


@lru_cache(maxsize=2)
def _encoder(model_dir: Path) -> BertEncoder:
    """The encoder in ``model_dir``, read once per process (apps made again share it)."""
    return BertEncoder.from_dir(model_dir)


def _best(
    matrix: Matrix,
    scores: NDArray[np.float32],
    limit: int,
    keep: Callable[[TermInfo], bool] | None,
    skip: set[int] | None = None,
) -> list[tuple[int, float]]:
    best: list[tuple[int, float]] = []
    for i in np.argsort(-scores, kind="stable"):
        term_id = int(matrix.term_ids[i])
        if skip and term_id in skip:
            continue
        if keep is not None and not keep(matrix.info[term_id]):
            continue
        best.append((term_id, float(scores[i])))
        if len(best) == limit:
            break
    return best


@dataclass(frozen=True)
class _Missing:
    term_id: int
    digest: str
    name: str
    summary: str
    body: str
    aliases: tuple[str, ...]


def _missing(session: Session) -> list[_Missing]:
    rows = session.execute(
        text(
            "SELECT t.id, t.digest, t.name, t.summary, t.body FROM term t WHERE NOT EXISTS"
            " (SELECT 1 FROM term_vector v WHERE v.digest = t.digest AND v.model = :model)"
            " ORDER BY t.id"
        ),
        {"model": MODEL_ID},
    ).all()
    aliases: dict[int, list[str]] = {}
    if rows:
        for term_id, alias in session.execute(
            text("SELECT term_id, name FROM alias ORDER BY term_id, position")
        ):
            aliases.setdefault(term_id, []).append(alias)
    return [
        _Missing(term_id, digest, name, summary, body, tuple(aliases.get(term_id, ())))
        for term_id, digest, name, summary, body in rows
    ]


def _store(engine: Engine, rows: list[tuple[str, int, Vector]]) -> None:
    """Write one batch; a batch another worker wrote first is left to it."""
    digests = sorted({digest for digest, _, _ in rows})
    try:
        with Session(engine) as session, session.begin():
            session.connection(execution_options=WRITE_LOCK)
            for digest in digests:
                session.execute(text("DELETE FROM term_vector WHERE digest = :d"), {"d": digest})
            session.execute(
                text(
                    "INSERT INTO term_vector (digest, part, model, vector)"
                    " VALUES (:digest, :part, :model, :vector)"
                ),
                [
                    {
                        "digest": digest,
                        "part": part,
                        "model": MODEL_ID,
                        "vector": np.asarray(vector, "<f4").tobytes(),
                    }
                    for digest, part, vector in rows
                ],
            )
    except (IntegrityError, OperationalError) as exc:
        log.info("semantic search: a batch of vectors was written by another worker (%s)", exc)


def _prune(engine: Engine) -> None:
    """Drop the vectors of records that no term has any more, and of other models."""
    with Session(engine) as session, session.begin():
        session.connection(execution_options=WRITE_LOCK)
        session.execute(
            text(
                "DELETE FROM term_vector WHERE model <> :model"
                " OR digest NOT IN (SELECT digest FROM term)"
            ),
            {"model": MODEL_ID},
        )


def _read_matrix(session: Session, dim: int, version: str | None) -> Matrix:
    terms = int(session.execute(text("SELECT count(*) FROM term")).scalar_one())
    rows = session.execute(
        text(
            "SELECT t.id, t.slug, c.slug, t.kind, v.vector FROM term t"
            " JOIN category c ON c.id = t.category_id"
            " JOIN term_vector v ON v.digest = t.digest AND v.model = :model"
            " ORDER BY t.id, v.part"
        ),
        {"model": MODEL_ID},
    ).all()
    if not rows:
        return Matrix(version, np.zeros((0, dim), np.float32), *_no_terms(), {}, terms)
    vectors = np.frombuffer(b"".join(bytes(r[4]) for r in rows), "<f4").reshape(len(rows), dim)
    ids = np.array([r[0] for r in rows], np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    info = {r[0]: TermInfo(r[1], r[2], r[3]) for r in rows}
    return Matrix(version, vectors.astype(np.float32), starts, ids[starts], info, terms)


def _no_terms() -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    return np.zeros(0, np.intp), np.zeros(0, np.int64)


def fuse(
    cosines: Mapping[Item, float], lexical: Sequence[Item], weight: float, c: float, floor: float
) -> list[tuple[Item, float]]:
    """Hybrid scores, best first: each item's cosine with the query plus, for the items the
    lexical ranking found, ``weight * c / (c + rank)`` (rank from 0). An item only the meaning
    offers needs a cosine of at least ``floor``. (Measured against reciprocal rank fusion on
    tests/kb/search_queries.py: see bench/RESULTS.md.)"""
    scores = {item: cos for item, cos in cosines.items() if cos >= floor}
    for rank, item in enumerate(lexical):
        scores[item] = cosines.get(item, 0.0) + weight * c / (c + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
