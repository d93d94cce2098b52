"""The bundled glossary in data/: complete, within bounds, well linked and renderable."""

import re
from collections import defaultdict
from pathlib import Path

import pytest

from kb.content import Glossary, read_glossary
from kb.relations import Relation
from kb.rules import fold_key
from kb.schemas import TermIn
from kb.web.render import MARKDOWN, flat_tokens

DATA = Path(__file__).resolve().parents[2] / "data"
GLOSSARY: Glossary = read_glossary(DATA)  # raises, listing every problem, if data/ is invalid
TERMS = {t.slug: t for t in GLOSSARY.terms}

REQUIRED = (
    """
gradient-descent stochastic-gradient-descent momentum nesterov-momentum adagrad rmsprop
adam-optimizer adamw amsgrad learning-rate learning-rate-schedule weight-decay loss-function
gradient gradient-clipping neural-network perceptron activation-function relu sigmoid tanh gelu
softmax backpropagation chain-rule vanishing-gradient exploding-gradient overfitting
regularization dropout batch-size mini-batch epoch weight-initialization cross-entropy-loss
batch-normalization layer-normalization internal-covariate-shift multilayer-perceptron
convolutional-neural-network recurrent-neural-network long-short-term-memory transformer
attention-mechanism self-attention multi-head-attention positional-encoding embedding bert
large-language-model transfer-learning fine-tuning parameter-efficient-fine-tuning
adapter-layers lora frozen-weights autoencoder denoising-autoencoder variational-autoencoder
sparse-autoencoder latent-representation dimensionality-reduction principal-component-analysis
boltzmann-machine restricted-boltzmann-machine contrastive-divergence deep-belief-network
energy-based-model gibbs-sampling
""".split()
    + """
machine-learning deep-learning supervised-learning unsupervised-learning
semi-supervised-learning self-supervised-learning reinforcement-learning feature label
training-set validation-set test-set hyperparameter inference generalization underfitting
bias-variance-tradeoff cross-validation l1-regularization l2-regularization early-stopping
data-augmentation feature-engineering feature-scaling one-hot-encoding class-imbalance
linear-regression ridge-regression lasso logistic-regression decision-tree random-forest bagging
boosting adaboost gradient-boosting xgboost ensemble-learning support-vector-machine kernel-trick
k-nearest-neighbors naive-bayes clustering k-means hierarchical-clustering dbscan
gaussian-mixture-model expectation-maximization t-sne umap linear-discriminant-analysis
hidden-markov-model grid-search random-search bayesian-optimization
accuracy precision recall f1-score confusion-matrix roc-curve area-under-the-roc-curve
precision-recall-curve calibration mean-squared-error mean-absolute-error r-squared
mean-average-precision intersection-over-union perplexity bleu rouge
maximum-likelihood-estimation maximum-a-posteriori-estimation bayes-theorem prior-distribution
posterior-distribution entropy mutual-information convex-function jacobian hessian
convolution pooling stride padding residual-connection resnet gated-recurrent-unit
sequence-to-sequence encoder-decoder-architecture word-embedding word2vec graph-neural-network
u-net vision-transformer contrastive-learning triplet-loss siamese-network knowledge-distillation
pruning quantization mixed-precision-training mixture-of-experts learning-rate-warmup
cosine-annealing label-smoothing silu hinge-loss huber-loss focal-loss
generative-adversarial-network diffusion-model normalizing-flow
tokenization byte-pair-encoding language-model gpt pre-training prompt-engineering
in-context-learning few-shot-learning zero-shot-learning chain-of-thought instruction-tuning rlhf
direct-preference-optimization qlora prefix-tuning retrieval-augmented-generation hallucination
greedy-decoding beam-search temperature-sampling top-k-sampling top-p-sampling kv-cache
flash-attention rotary-position-embedding context-window masked-language-modeling
teacher-forcing scaling-laws speculative-decoding
markov-decision-process reward policy value-function bellman-equation
temporal-difference-learning q-learning deep-q-network policy-gradient actor-critic
proximal-policy-optimization exploration-exploitation-tradeoff epsilon-greedy multi-armed-bandit
fairness algorithmic-bias explainable-ai shap adversarial-example data-drift concept-drift
federated-learning active-learning online-learning curriculum-learning meta-learning
multi-task-learning domain-adaptation anomaly-detection recommender-system
collaborative-filtering matrix-factorization image-classification object-detection
image-segmentation
""".split()
)

ABBREVIATIONS = {
    "BN": "batch-normalization",
    "RBM": "restricted-boltzmann-machine",
    "SGD": "stochastic-gradient-descent",
    "PEFT": "parameter-efficient-fine-tuning",
    "LLM": "large-language-model",
    "VAE": "variational-autoencoder",
    "PCA": "principal-component-analysis",
    "MLP": "multilayer-perceptron",
    "CNN": "convolutional-neural-network",
    "RNN": "recurrent-neural-network",
    "LSTM": "long-short-term-memory",
    "SVM": "support-vector-machine",
    "kNN": "k-nearest-neighbors",
    "GAN": "generative-adversarial-network",
    "RLHF": "rlhf",
    "DPO": "direct-preference-optimization",
    "RAG": "retrieval-augmented-generation",
    "GMM": "gaussian-mixture-model",
    "EM": "expectation-maximization",
    "MLE": "maximum-likelihood-estimation",
    "AUC": "area-under-the-roc-curve",
    "MSE": "mean-squared-error",
    "IoU": "intersection-over-union",
    "BPE": "byte-pair-encoding",
    "GRU": "gated-recurrent-unit",
    "ViT": "vision-transformer",
    "MoE": "mixture-of-experts",
    "RoPE": "rotary-position-embedding",
    "MDP": "markov-decision-process",
    "DQN": "deep-q-network",
    "PPO": "proximal-policy-optimization",
    "SHAP": "shap",
    "XAI": "explainable-ai",
    "CoT": "chain-of-thought",
    "KL divergence": "kl-divergence",
}


def neighbours() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for link in GLOSSARY.links:
        graph[link.source].add(link.target)
        graph[link.target].add(link.source)
    return graph


def words(text: str) -> int:
    return len(text.split())


def test_every_required_term_is_there() -> None:
    assert len(TERMS) >= 400
    assert sorted(set(REQUIRED) - set(TERMS)) == []


@pytest.mark.parametrize(("alias", "slug"), ABBREVIATIONS.items())
def test_common_abbreviations_are_aliases(alias: str, slug: str) -> None:
    names = {fold_key(n) for n in (slug, TERMS[slug].name, *TERMS[slug].aliases)}
    assert fold_key(alias) in names


def test_every_category_is_used_and_none_is_a_dumping_ground() -> None:
    sizes = {c.slug: 0 for c in GLOSSARY.categories}
    for term in GLOSSARY.terms:
        sizes[term.category] += 1
    assert 12 <= len(sizes) <= 16
    assert min(sizes.values()) >= 5, sizes
    assert max(sizes.values()) <= len(TERMS) // 5, sizes


def test_graph_is_connected_without_orphans() -> None:
    graph = neighbours()
    assert set(graph) == set(TERMS), f"orphans: {sorted(set(TERMS) - set(graph))}"
    seen, frontier = {"adam-optimizer"}, ["adam-optimizer"]
    while frontier:
        for other in graph[frontier.pop()] - seen:
            seen.add(other)
            frontier.append(other)
    assert seen == set(TERMS), f"not reachable: {sorted(set(TERMS) - seen)}"


def test_no_broader_cycle() -> None:
    parents = defaultdict(set)
    for link in GLOSSARY.links:
        if link.relation is Relation.broader:
            parents[link.source].add(link.target)

    def ancestors(slug: str, path: tuple[str, ...] = ()) -> None:
        assert slug not in path, " -> ".join([*path, slug])
        for parent in parents[slug]:
            ancestors(parent, (*path, slug))

    for slug in TERMS:
        ancestors(slug)


@pytest.mark.parametrize("slug", sorted(TERMS))
def test_term_is_within_bounds(slug: str) -> None:
    term: TermIn = TERMS[slug]
    assert len(term.summary) <= 300
    assert not term.summary.lower().startswith(("it ", "this ")), "the summary must stand alone"
    assert 150 <= words(term.body) <= 400, f"{words(term.body)} words"
    assert len(neighbours()[slug]) >= 3, "fewer than three links"
    assert term.references, "no reference"
    for ref in term.references:
        assert ref.year and ref.venue
        assert ref.arxiv or ref.doi or ref.url


@pytest.mark.parametrize("slug", sorted(s for s, t in TERMS.items() if t.kind == "algorithm"))
def test_algorithm_has_an_equation(slug: str) -> None:
    assert re.search(r"\$[^$]+\$", TERMS[slug].body), "an algorithm needs its defining equation"


@pytest.mark.parametrize("slug", sorted(TERMS))
def test_body_renders_with_balanced_math(slug: str) -> None:
    assert MARKDOWN.render(TERMS[slug].body).strip()
    tokens = flat_tokens(TERMS[slug].body)
    math = [t for t in tokens if t.type.startswith("math")]
    stray = [t.content for t in tokens if t.type == "text" and "$" in t.content]
    assert not stray, f"unbalanced $ in: {stray}"
    assert all(t.content.strip() for t in math), "empty formula"
    if TERMS[slug].kind == "algorithm":
        assert math


def test_unbalanced_math_is_caught() -> None:
    tokens = flat_tokens("A price of $5 and $x^2$ and $$")
    assert any(t.type == "text" and "$" in t.content for t in tokens)


def test_aliases_do_not_shadow_each_other() -> None:
    owners: dict[str, str] = {}
    for term in GLOSSARY.terms:
        for key in {fold_key(k) for k in (term.slug, term.name, *term.aliases)}:
            assert owners.setdefault(key, term.slug) == term.slug, key


# What a new user types, as the API, `kb show` and the pages look it up (kb.rules.fold_key).
EVERYDAY_LOOK_UPS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "logistic regression": "logistic-regression",
    "k-means": "k-means",
    "k means": "k-means",
    "GAN": "generative-adversarial-network",
    "GANs": "generative-adversarial-network",
    "tokenization": "tokenization",
    "RLHF": "rlhf",
    "Q-learning": "q-learning",
    "cross entropy": "cross-entropy-loss",
    "learning rate schedule": "learning-rate-schedule",
    "Learning-rate schedules": "learning-rate-schedule",
    "bayes theorem": "bayes-theorem",
    "SVMs": "support-vector-machine",
    "random forests": "random-forest",
    "Frechet inception distance": "frechet-inception-distance",
    "t-SNE": "t-sne",
    "nucleus sampling": "top-p-sampling",
}


def test_everyday_look_ups_find_their_term() -> None:
    owner = {
        fold_key(text): term.slug
        for term in GLOSSARY.terms
        for text in (term.slug, term.name, *term.aliases)
    }
    found = {typed: owner.get(fold_key(typed)) for typed in EVERYDAY_LOOK_UPS}
    assert found == EVERYDAY_LOOK_UPS
