"""A synthetic glossary of any size, with realistic lengths, aliases and links.

Text follows a Zipf distribution over 40,000 words, as prose does: English function words
at the head (in every body, as in a real glossary), then real ML words at mid ranks (each in a
few percent of the bodies), then invented words. Names are two to four content words; terms
get zero to three aliases, a summary of about 150 characters, a body of 150-400 words, one or
two references and three to six typed links, mostly to earlier terms with a preference for
well-linked ones (as real glossaries grow around hubs).

    .venv/bin/python bench/synthetic.py 100000 /tmp/glossary-100k   # write data files
"""

import itertools
import random
import sys
from pathlib import Path

import yaml

from kb.content import Glossary, StoredLink, data_version
from kb.relations import Relation, canonical_link
from kb.schemas import CategoryIn, LinkIn, ReferenceModel, TermIn

_REAL = (
    "gradient descent momentum adaptive moment estimation batch layer normalization attention "
    "transformer encoder decoder residual convolution recurrent memory dropout weight decay "
    "learning rate schedule warmup cosine annealing entropy loss softmax sigmoid activation "
    "kernel embedding token sequence latent variable prior posterior sampling energy boltzmann "
    "contrastive divergence autoencoder variational sparse denoising adapter fine tuning "
    "transfer pretraining distillation pruning quantization regularization generalization "
    "overfitting bias variance ensemble boosting bagging tree forest margin support vector "
    "kernel trick manifold projection principal component spectral graph message passing"
).split()
_RELATIONS = [
    Relation.related,
    Relation.uses,
    Relation.variant_of,
    Relation.part_of,
    Relation.broader,
    Relation.contrasts_with,
]


_FUNCTION_WORDS = (
    "the of and a to in is that for it as with by on are this be an which from at or can "
    "its their each when into than more used not also these one only so has but between"
).split()
_REAL_FROM_RANK = 300


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    invented = sorted(
        {
            "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
            for _ in range(size - len(_REAL) - len(_FUNCTION_WORDS))
        }
    )
    rng.shuffle(invented)
    head = _REAL_FROM_RANK - len(_FUNCTION_WORDS)
    return _FUNCTION_WORDS + invented[:head] + _REAL + invented[head:]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not function words: what people search for."""
    return [w for w in text.split() if w.casefold() not in _FUNCTION_WORDS]


def synthetic_glossary(n: int, seed: int = 0) -> Glossary:
    """A valid glossary of ``n`` terms (deterministic for a seed)."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 40_000)
    content = len(_FUNCTION_WORDS)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    names_cumulative = list(
        itertools.accumulate(1 / (rank + 1) for rank in range(content, len(words)))
    )
    categories = [
        CategoryIn(slug=f"category-{i}", name=f"Category {i}", description=f"Synthetic {i}.")
        for i in range(12)
    ]
    terms: list[TermIn] = []
    names: set[str] = set()
    hubs: list[str] = []  # one entry per link end: picking from it prefers well-linked terms
    links: dict[tuple[str, str], StoredLink] = {}
    for i in range(n):
        while True:
            picked = rng.choices(words[content:], cum_weights=names_cumulative, k=rng.randint(2, 4))
            name = " ".join(picked).capitalize()
            name = f"{name} {i}" if name.casefold() in names else name
            if name.casefold() not in names:
                break
        names.add(name.casefold())
        slug = f"t{i}-" + "-".join(name.casefold().split()[:3])
        aliases = [f"{slug.split('-')[1][:3].upper()}{i}"] * (rng.random() < 0.5)
        aliases += [f"{name} alias {k}" for k in range(rng.randint(0, 2))]
        related: list[LinkIn] = []
        if i:
            for _ in range(rng.randint(3, 6)):
                other = (
                    rng.choice(hubs)
                    if hubs and rng.random() < 0.5
                    else terms[rng.randrange(i)].slug
                )
                pair = (min(slug, other), max(slug, other))
                if other == slug or pair in links:
                    continue
                relation = rng.choice(_RELATIONS)
                if relation is Relation.broader:  # only ever towards older terms: no cycles
                    relation = Relation.related
                links[pair] = StoredLink(*canonical_link(slug, relation, other))
                related.append(LinkIn(term=other, relation=relation))
                hubs += [slug, other]
        body = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(150, 400)))
        terms.append(
            TermIn(
                slug=slug,
                name=name,
                aliases=aliases,
                category=categories[i % len(categories)].slug,
                kind=rng.choice(["concept", "algorithm"]),
                summary=" ".join(rng.choices(words, cum_weights=cumulative, k=20)).capitalize()[
                    :280
                ]
                + ".",
                related=related,
                references=[
                    ReferenceModel(
                        title=" ".join(rng.choices(words, k=6)).capitalize(),
                        authors=["A. Author", "B. Author"],
                        year=rng.randint(1950, 2025),
                        venue="Synthetic Proceedings",
                        url=f"https://example.org/{slug}",
                    )
                    for _ in range(rng.randint(1, 2))
                ],
                body=body,
            )
        )
    return Glossary(categories, terms, list(links.values()), version=f"synthetic-{n}-{seed}")


def write(glossary: Glossary, root: Path) -> Path:
    """Write ``glossary`` as data files that ``kb check`` and ``kb load`` read."""
    (root / "terms").mkdir(parents=True, exist_ok=True)
    categories = [c.model_dump() for c in glossary.categories]
    (root / "categories.yaml").write_text(yaml.safe_dump(categories, sort_keys=False))
    for term in glossary.terms:
        front = term.model_dump(mode="json", exclude={"body"}, exclude_none=True)
        text = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + term.body + "\n"
        (root / "terms" / f"{term.slug}.md").write_text(text)
    return root


if __name__ == "__main__":
    size, target = int(sys.argv[1]), Path(sys.argv[2])
    write(synthetic_glossary(size), target)
    print(f"wrote {size} terms to {target} (data version {data_version(target)})")
