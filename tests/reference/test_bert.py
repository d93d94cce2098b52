"""reference.bert against transformers' BertModel from the same directory, pooled the same way
(masked mean, L2 norm): the sentence-transformers pipeline of all-MiniLM-L6-v2."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertModel

from reference.bert import BertEncoder, gelu_float32, load_safetensors
from reference.layernorm import layer_norm

GLOSSARY = sorted((Path(__file__).parents[2] / "data" / "terms").glob("*.md"))
COSINE_MIN = 0.99999  # float32, from the issue
MAX_ABS_32 = 1e-5


@pytest.fixture(scope="module")
def encoders(model_dir: Path) -> dict[str, BertEncoder]:
    return {
        "float32": BertEncoder.from_dir(model_dir),
        "float64": BertEncoder.from_dir(model_dir, dtype=np.float64),
    }


@pytest.fixture(scope="module")
def peers(model_dir: Path) -> dict[str, BertModel]:
    model = BertModel.from_pretrained(str(model_dir)).eval()
    return {"float32": model, "float64": BertModel.from_pretrained(str(model_dir)).double().eval()}


def _batch(encoder: BertEncoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [encoder.tokenizer.encode(t) for t in texts]
    ids = np.zeros((len(texts), max(map(len, encoded))), np.int64)
    mask = np.zeros_like(ids)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)], mask[row, : len(tokens)] = tokens, 1
    return ids, mask


def _peer_embed(peers: dict[str, BertModel], encoder: BertEncoder, texts: list[str]) -> np.ndarray:
    ids, mask = _batch(encoder, texts)
    dtype = torch.float64 if encoder.dtype == np.float64 else torch.float32
    with torch.no_grad():
        hidden = peers[str(encoder.dtype)](
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).last_hidden_state
        m = torch.from_numpy(mask)[..., None].to(dtype)
        pooled = (hidden * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()


def _term_texts(count: int) -> list[str]:
    """The head of ``count`` glossary files spread over the alphabet (front matter and body)."""
    step = len(GLOSSARY) // count
    return [p.read_text(encoding="utf-8")[:700] for p in GLOSSARY[::step][:count]]


def _random_texts(encoder: BertEncoder, count: int, seed: int) -> list[str]:
    """Texts of random vocabulary words, 1 to 256 tokens with [CLS] and [SEP] (some cut)."""
    rng = random.Random(seed)
    words = [w for w in encoder.tokenizer.vocab if w.isalpha() and w.isascii()]
    lengths = [0, 1, 254, 300] + [rng.randint(0, 260) for _ in range(count - 4)]
    return [" ".join(rng.choice(words) for _ in range(n)) for n in lengths]


def _assert_close(ours: np.ndarray, theirs: np.ndarray, dtype: str) -> None:
    assert ours.dtype == np.dtype(dtype)
    cosine = np.sum(ours.astype(np.float64) * theirs, axis=1)
    diff = np.max(np.abs(ours - theirs))
    if dtype == "float32":
        assert cosine.min() >= COSINE_MIN and diff <= MAX_ABS_32, (cosine.min(), diff)
    else:
        assert diff <= 1e-12, diff


# float64 is the slow path (its exact GELU): fewer texts there.
@pytest.mark.parametrize(
    ("dtype", "count", "batch_size"),
    [("float32", 24, 1), ("float32", 24, 7), ("float32", 24, 32), ("float64", 4, 3)],
)
def test_glossary_embeddings_equal_the_peer(
    encoders: dict[str, BertEncoder],
    peers: dict[str, BertModel],
    dtype: str,
    count: int,
    batch_size: int,
) -> None:
    encoder = encoders[dtype]
    texts = _term_texts(count)
    _assert_close(encoder.embed(texts, batch_size), _peer_embed(peers, encoder, texts), dtype)


@pytest.mark.parametrize(("dtype", "count"), [("float32", 12), ("float64", 4)])
def test_random_texts_of_1_to_256_tokens_equal_the_peer(
    encoders: dict[str, BertEncoder], peers: dict[str, BertModel], dtype: str, count: int
) -> None:
    encoder = encoders[dtype]
    texts = _random_texts(encoder, count, seed=1)
    lengths = [len(encoder.tokenizer.encode(t)) for t in texts]
    assert min(lengths) == 2 and max(lengths) == 256
    ours = encoder.embed(texts, batch_size=5)
    theirs = np.concatenate([_peer_embed(peers, encoder, [t]) for t in texts])
    _assert_close(ours, theirs, dtype)


def test_hidden_states_equal_the_peer_with_padding(
    encoders: dict[str, BertEncoder], peers: dict[str, BertModel]
) -> None:
    encoder = encoders["float64"]
    ids, mask = _batch(encoder, ["short", "a somewhat longer sentence about attention masks"])
    with torch.no_grad():
        theirs = peers["float64"](
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).last_hidden_state.numpy()
    ours = encoder.forward(ids, mask)
    real = mask.astype(bool)  # the peer's padded rows are never read (pooling masks them)
    assert np.max(np.abs(ours[real] - theirs[real])) <= 1e-12


def test_embeddings_are_unit_length_in_input_order(encoders: dict[str, BertEncoder]) -> None:
    encoder = encoders["float32"]
    texts = ["dropout", "a much longer text about stochastic gradient descent and momentum", ""]
    together = encoder.embed(texts, batch_size=2)
    assert together.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-6)
    alone = np.concatenate([encoder.embed([t]) for t in texts])
    assert np.max(np.abs(together - alone)) <= 1e-6
    assert encoder.embed([]).shape == (0, 384)


def test_gelu_float32_is_within_float32_rounding_of_the_exact_gelu() -> None:
    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    exact = torch.nn.functional.gelu(torch.from_numpy(x.astype(np.float64))).numpy()
    ours = gelu_float32(x.copy())
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - exact) / np.maximum(np.abs(exact), 1.0)) <= 2e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_equals_torch(dtype: type) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(3, 2, (5, 16)).astype(dtype), rng.normal(size=16), rng.normal(size=16)
    w, b = w.astype(dtype), b.astype(dtype)
    theirs = torch.nn.functional.layer_norm(
        torch.from_numpy(x), (16,), torch.from_numpy(w), torch.from_numpy(b), 1e-12
    ).numpy()
    ours = layer_norm(x.copy(), 16, w, b, 1e-12)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_safetensors_reader_equals_the_safetensors_library(model_dir: Path) -> None:
    from safetensors.numpy import load_file

    ours = load_safetensors(model_dir / "model.safetensors")
    theirs = load_file(str(model_dir / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    for name, array in theirs.items():
        assert ours[name].dtype == array.dtype and np.array_equal(ours[name], array), name


def test_bad_input_is_named(encoders: dict[str, BertEncoder], tmp_path: Path) -> None:
    encoder = encoders["float32"]
    with pytest.raises(ValueError, match="texts"):
        encoder.embed("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        encoder.embed(["x"], batch_size=0)
    with pytest.raises(ValueError, match="input_ids"):
        encoder.forward(np.array([[0, 40_000]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="attention_mask"):
        encoder.forward(np.array([[101, 102]]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="model_dir"):
        BertEncoder.from_dir(tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        BertEncoder({}, encoder.config, encoder.tokenizer, np.int32)
    with pytest.raises(
        ValueError, match=r"weights: embeddings\.word_embeddings\.weight is missing"
    ):
        BertEncoder({}, encoder.config, encoder.tokenizer)
