"""Typed links between terms.

A link is stored once, in its canonical direction, and read from either end: from the source
it carries its own name, from the target the inverse name (``uses`` <-> ``used-by``).
"""

from enum import StrEnum


class Relation(StrEnum):
    related = "related"
    broader = "broader"
    narrower = "narrower"
    variant_of = "variant-of"
    has_variant = "has-variant"
    part_of = "part-of"
    has_part = "has-part"
    uses = "uses"
    used_by = "used-by"
    contrasts_with = "contrasts-with"

    @property
    def inverse(self) -> "Relation":
        return _INVERSE[self]

    @property
    def is_symmetric(self) -> bool:
        return _INVERSE[self] is self

    @property
    def is_canonical(self) -> bool:
        """Whether links of this type are stored as written (otherwise as their inverse)."""
        return self in _CANONICAL


_PAIRS = [
    (Relation.related, Relation.related),
    (Relation.broader, Relation.narrower),
    (Relation.variant_of, Relation.has_variant),
    (Relation.part_of, Relation.has_part),
    (Relation.uses, Relation.used_by),
    (Relation.contrasts_with, Relation.contrasts_with),
]
_INVERSE = {a: b for a, b in _PAIRS} | {b: a for a, b in _PAIRS}
_CANONICAL = frozenset(a for a, _ in _PAIRS)


def canonical_link(source: str, relation: Relation, target: str) -> tuple[str, Relation, str]:
    """The one stored form of ``source --relation--> target``.

    Directed types are stored under their canonical name; symmetric ones with the smaller slug
    first, so ``a related b`` and ``b related a`` are the same link.
    """
    if relation.is_symmetric:
        return (source, relation, target) if source <= target else (target, relation, source)
    if relation.is_canonical:
        return source, relation, target
    return target, relation.inverse, source
