"""Look-up keys folded further: spaces, hyphens, underscores, apostrophes, accents and a plural
"s" no longer count ("k means" finds k-means). The keys are recomputed from each term's slug,
name and aliases, as ``kb.loader.lookup_keys`` derives them now.

Revision ID: 0004
Revises: 0003
"""

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from kb.loader import lookup_keys

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("kb.migrations")


Keys = dict[str, tuple[str, str]]


def upgrade() -> None:
    _rebuild_keys(lookup_keys)


def downgrade() -> None:
    _rebuild_keys(_unfolded_keys)


def _unfolded_keys(slug: str, name: str, aliases: Sequence[str]) -> Keys:
    """The keys before this revision: case-folded, white space collapsed."""

    def key(text: str) -> str:
        return " ".join(text.split()).casefold()

    keys = {key(slug): (slug, "slug")}
    keys |= {key(a): (a, "alias") for a in aliases}
    keys[key(name)] = (name, "name")
    return keys


def _rebuild_keys(keys_of: Callable[[str, str, Sequence[str]], Keys]) -> None:
    bind = op.get_bind()
    terms = bind.execute(sa.text("SELECT id, slug, name FROM term ORDER BY id")).all()
    aliases: dict[int, list[str]] = {}
    for term_id, alias in bind.execute(
        sa.text("SELECT term_id, name FROM alias ORDER BY term_id, position")
    ):
        aliases.setdefault(term_id, []).append(alias)
    # Slugs claim their keys first, then names, then aliases, older terms first: edits made
    # before this rule could give two terms texts that now fold alike, and a slug must keep
    # finding its own term. `kb check` on an export names any such clash.
    candidates = []
    for term_id, slug, name in terms:
        firsts = (set(keys_of(slug, slug, [])), set(keys_of(name, name, [])))
        for key, (label, source) in keys_of(slug, name, aliases.get(term_id, [])).items():
            rank = 0 if key in firsts[0] else 1 if key in firsts[1] else 2
            candidates.append((rank, term_id, key, label, source))
    rows: dict[str, tuple[int, str, str]] = {}
    for _rank, term_id, key, label, source in sorted(candidates):
        first = rows.setdefault(key, (term_id, label, source))
        if first[0] != term_id:
            log.warning(
                "look-up key %r: %r of term %d and %r of term %d fold alike; term %d keeps it",
                key, first[1], first[0], label, term_id, first[0],
            )  # fmt: skip
    bind.execute(sa.text("DELETE FROM lookup_key"))
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO lookup_key (key, term_id, label, source)"
                " VALUES (:key, :term_id, :label, :source)"
            ),
            [
                {"key": key, "term_id": term_id, "label": label, "source": source}
                for key, (term_id, label, source) in rows.items()
            ],
        )
