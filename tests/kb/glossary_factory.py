"""Small glossaries written to disk, for tests that need files to load or reject."""

from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from kb import loader
from kb.content import read_glossary
from kb.db import make_engine

CATEGORIES: list[dict[str, str]] = [
    {"slug": "optimization", "name": "Optimization", "description": "Moving parameters downhill."},
    {"slug": "fundamentals", "name": "Fundamentals", "description": "What every network shares."},
    {"slug": "empty", "name": "Empty", "description": "A category with no terms yet."},
]

_REF = {
    "title": "Adam: A Method for Stochastic Optimization",
    "authors": ["Diederik P. Kingma", "Jimmy Ba"],
    "year": 2015,
    "venue": "ICLR",
    "url": "https://arxiv.org/abs/1412.6980",
    "arxiv": "1412.6980",
}

TERMS: dict[str, dict[str, Any]] = {
    "adam-optimizer": {
        "name": "Adam optimizer",
        "aliases": ["Adam", "Adaptive Moment Estimation"],
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Adaptive moment estimation: momentum plus per-parameter step sizes.",
        "related": [
            {"term": "momentum", "relation": "uses"},
            {"term": "rmsprop", "relation": "uses"},
            {"term": "adamw", "relation": "has-variant"},
        ],
        "references": [_REF],
        "demo": "adam-optimizer",
        "body": "Adam keeps moving averages $m_t$ and $v_t$.\n\n$$\\theta_t = \\theta_{t-1}$$",
    },
    "adamw": {
        "name": "AdamW",
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Adam with decoupled weight decay.",
        "related": [{"term": "adam-optimizer", "relation": "variant-of"}],
        "body": "Decay is applied to the weights directly.",
    },
    "momentum": {
        "name": "Momentum",
        "aliases": ["heavy ball"],
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Accumulates past gradients into a velocity.",
        "related": [{"term": "gradient-descent", "relation": "variant-of"}],
        "body": "A velocity smooths the steps.",
    },
    "rmsprop": {
        "name": "RMSProp",
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Divides each step by a running RMS of recent gradients.",
        "related": [{"term": "gradient-descent", "relation": "variant-of"}],
        "body": "Running averages of squared gradients.",
    },
    "gradient-descent": {
        "name": "Gradient descent",
        "aliases": ["GD"],
        "category": "optimization",
        "kind": "algorithm",
        "summary": "Step against the gradient.",
        "body": "The simplest first-order method.",
    },
    "batch-normalization": {
        "name": "Batch normalization",
        "aliases": ["BN", "batch norm"],
        "category": "fundamentals",
        "kind": "algorithm",
        "summary": "Normalises activations with mini-batch statistics.",
        "related": [
            {"term": "backpropagation", "relation": "related"},
            {"term": "gradient-descent", "relation": "contrasts-with"},
        ],
        "body": "Uses the biased batch variance.",
    },
    "backpropagation": {
        "name": "Backpropagation",
        "aliases": ["backprop"],
        "category": "fundamentals",
        "kind": "concept",
        "summary": "Computes gradients layer by layer with the chain rule.",
        "related": [{"term": "gradient-descent", "relation": "used-by"}],
        "body": "Reverse-mode differentiation.",
    },
}


def term_text(slug: str, fields: dict[str, Any]) -> str:
    front = {"slug": slug, **{k: v for k, v in fields.items() if k != "body"}}
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + fields["body"] + "\n"


def write_glossary(
    root: Path,
    terms: dict[str, dict[str, Any]] | None = None,
    categories: list[dict[str, str]] | None = None,
) -> Path:
    """Write a glossary (the small default one unless given) under ``root`` and return it."""
    terms = deepcopy(TERMS) if terms is None else terms
    categories = deepcopy(CATEGORIES) if categories is None else categories
    (root / "terms").mkdir(parents=True, exist_ok=True)
    for old in (root / "terms").glob("*.md"):
        old.unlink()
    (root / "categories.yaml").write_text(yaml.safe_dump(categories, sort_keys=False))
    for slug, fields in terms.items():
        (root / "terms" / f"{slug}.md").write_text(term_text(slug, fields))
    return root


def reload(database_url: str, root: Path, terms: dict[str, dict[str, Any]]) -> None:
    """Write ``terms`` under ``root`` and load them into the database, as ``kb load`` would
    while a server is running on it."""
    engine = make_engine(database_url)
    loader.load(engine, read_glossary(write_glossary(root, terms)))
    engine.dispose()


def glossary_with(**changes: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The default terms with some replaced (a dict) or removed (None); keys use underscores."""
    terms = deepcopy(TERMS)
    for key, fields in changes.items():
        slug = key.replace("_", "-")
        if fields is None:
            terms.pop(slug, None)
        else:
            terms[slug] = fields
    return terms


def glossary_without(*slugs: str) -> dict[str, dict[str, Any]]:
    """The default terms less ``slugs`` and every link to them."""
    terms = {slug: deepcopy(fields) for slug, fields in TERMS.items() if slug not in slugs}
    for fields in terms.values():
        if "related" in fields:
            fields["related"] = [link for link in fields["related"] if link["term"] not in slugs]
    return terms
