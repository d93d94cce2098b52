"""A BERT sentence encoder (the sentence-transformers pipeline of all-MiniLM-L6-v2) in NumPy.

References: J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, "BERT: Pre-training of Deep
Bidirectional Transformers for Language Understanding", NAACL 2019, arXiv:1810.04805;
A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762; J. L. Ba,
J. R. Kiros, G. E. Hinton, "Layer Normalization", 2016, arXiv:1607.06450; W. Wang et al.,
"MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained
Transformers", NeurIPS 2020, arXiv:2002.10957; N. Reimers, I. Gurevych, "Sentence-BERT:
Sentence Embeddings using Siamese BERT-Networks", EMNLP 2019, arXiv:1908.10084.

For token ids t_1..t_n (from ``reference.wordpiece``) and a padding mask m (1 for a token):

    h^0_i = LN(E_word[t_i] + E_pos[i] + E_type[0])
    for each of the layers (post-LN, as in BERT):
        a   = MultiHead(h W_Q + b_Q, h W_K + b_K, h W_V + b_V; keys where m = 0 masked) W_O + b_O
        h'  = LN(h + a)
        h   = LN(h' + GELU(h' W_1 + b_1) W_2 + b_2)
    u = sum_i m_i h_i / sum_i m_i                    (mean pooling over the real tokens)
    embedding = u / max(||u||_2, 1e-12)

with LN(x) = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta over the hidden axis (biased
variance) and GELU(x) = x Phi(x), the exact (erf) form. The peer is ``transformers``'
``BertModel`` loaded from the same directory, pooled the same way.

In float32 the GELU uses a rational approximation of erf with the coefficients of Eigen's
float32 ``erf`` (max error about 4e-7, a few float32 ulps), fifteen times faster than the
float64 series of ``reference.activations.erf``; float64 uses the latter. The weights are read
from the ``.safetensors`` file with NumPy alone (an 8-byte little-endian header length, a JSON
header of names, dtypes, shapes and byte ranges, then the raw little-endian tensors).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from reference.activations import gelu
from reference.attention import scaled_dot_product_attention
from reference.layernorm import layer_norm
from reference.wordpiece import WordPieceTokenizer

__all__ = ["BertConfig", "BertEncoder", "gelu_float32", "load_safetensors"]

FloatArray = NDArray[np.floating[Any]]

_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}

# Eigen's float32 erf: x P(x^2) / Q(x^2) on [-4, 4] (erf is 1 to float32 precision beyond).
_ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
          -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
          -1.60960333262415e-02)  # fmt: skip
_GELU_BLOCK = 1 << 15
_ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
          -7.37332916720468e-03, -1.42647390514189e-02)  # fmt: skip


def load_safetensors(path: str | PathLike[str]) -> dict[str, NDArray[Any]]:
    """Every tensor of a ``.safetensors`` file, by name, as a NumPy array of its dtype."""
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise ValueError(f"path: {path} is too short to be a safetensors file")
    header_len = int.from_bytes(raw[:8], "little")
    try:
        header = json.loads(raw[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"path: {path} has no readable safetensors header ({exc})") from exc
    data = memoryview(raw)[8 + header_len :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _SAFETENSORS_DTYPES:
            raise ValueError(f"path: {name} has dtype {entry['dtype']}, which is not supported")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_SAFETENSORS_DTYPES[entry["dtype"]])
        tensors[name] = array.reshape(entry["shape"])
    return tensors


def gelu_float32(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """x Phi(x) in float32 with a rational erf, in place on ``x`` (which it returns).

    Worked through in blocks of ``_GELU_BLOCK`` values whose temporaries stay in the CPU's
    cache: over whole (tokens, 1536) arrays the dozen passes of the polynomials are bound by
    memory traffic and page faults, three times slower."""
    f32 = np.float32
    flat = x.reshape(-1)
    scratch = np.empty((3, min(_GELU_BLOCK, flat.size)), np.float32)
    for start in range(0, flat.size, _GELU_BLOCK):
        block = flat[start : start + _GELU_BLOCK]
        z, z2, p = scratch[:, : block.size]
        np.multiply(block, f32(math.sqrt(0.5)), out=z)
        np.clip(z, f32(-4.0), f32(4.0), out=z)
        np.multiply(z, z, out=z2)
        p.fill(f32(_ERF_P[0]))
        for a in _ERF_P[1:]:
            p *= z2
            p += f32(a)
        p *= z  # the numerator; the denominator is built in z, no longer needed
        z.fill(f32(_ERF_Q[0]))
        for b in _ERF_Q[1:]:
            z *= z2
            z += f32(b)
        p /= z  # erf(x / sqrt 2)
        p += f32(1.0)
        p *= f32(0.5)
        block *= p
    return x


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face ``config.json`` that the encoder uses."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json(cls, path: str | PathLike[str]) -> BertConfig:
        fields = json.loads(Path(path).read_text(encoding="utf-8"))
        config = cls(**{k: fields[k] for k in cls.__dataclass_fields__ if k in fields})
        if config.hidden_act != "gelu":
            raise ValueError(f"hidden_act: only 'gelu' is provided, got {config.hidden_act!r}")
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        return config


@dataclass(frozen=True)
class _Layer:
    qkv_w: FloatArray  # (H, 3H): query, key and value projections side by side
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1_w: FloatArray
    ln1_b: FloatArray
    ffn_in_w: FloatArray
    ffn_in_b: FloatArray
    ffn_out_w: FloatArray
    ffn_out_b: FloatArray
    ln2_w: FloatArray
    ln2_b: FloatArray


class BertEncoder:
    """``embed(texts)``: L2-normalised mean-pooled BERT embeddings, shape (n, hidden_size)."""

    def __init__(
        self,
        weights: dict[str, NDArray[Any]],
        config: BertConfig,
        tokenizer: WordPieceTokenizer,
        dtype: DTypeLike = np.float32,
    ) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.config = config
        self.tokenizer = tokenizer
        if tokenizer.max_length > config.max_position_embeddings:
            raise ValueError("tokenizer: its max_length exceeds max_position_embeddings")

        def w(name: str) -> FloatArray:
            if name not in weights:
                raise ValueError(f"weights: {name} is missing")
            return np.ascontiguousarray(weights[name], dtype=self.dtype)

        def dense(prefix: str) -> tuple[FloatArray, FloatArray]:  # torch keeps (out, in)
            return np.ascontiguousarray(w(prefix + ".weight").T), w(prefix + ".bias")

        e = "embeddings."
        self.word_embeddings = w(e + "word_embeddings.weight")
        # Every token's type is 0: its embedding is folded into the positions once.
        self.position_embeddings = (
            w(e + "position_embeddings.weight") + w(e + "token_type_embeddings.weight")[0]
        )
        self.embed_ln = (w(e + "LayerNorm.weight"), w(e + "LayerNorm.bias"))
        self.layers = []
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."
            q, k, v = (dense(p + f"attention.self.{n}") for n in ("query", "key", "value"))
            out, ffn_in, ffn_out = (
                dense(p + n)
                for n in ("attention.output.dense", "intermediate.dense", "output.dense")
            )
            self.layers.append(
                _Layer(
                    np.concatenate([q[0], k[0], v[0]], axis=1),
                    np.concatenate([q[1], k[1], v[1]]),
                    *out,
                    w(p + "attention.output.LayerNorm.weight"),
                    w(p + "attention.output.LayerNorm.bias"),
                    *ffn_in,
                    *ffn_out,
                    w(p + "output.LayerNorm.weight"),
                    w(p + "output.LayerNorm.bias"),
                )
            )

    @classmethod
    def from_dir(
        cls, model_dir: str | PathLike[str], dtype: DTypeLike = np.float32, max_length: int = 256
    ) -> BertEncoder:
        """The encoder in ``model_dir``: ``config.json``, ``model.safetensors``, ``vocab.txt``
        (as ``kb model fetch`` leaves them). ``max_length`` counts ``[CLS]`` and ``[SEP]``."""
        root = Path(model_dir)
        missing = [
            n for n in ("config.json", "model.safetensors", "vocab.txt") if not (root / n).is_file()
        ]
        if missing:
            raise ValueError(f"model_dir: {root} lacks {', '.join(missing)}")
        config = BertConfig.from_json(root / "config.json")
        tokenizer = WordPieceTokenizer(root / "vocab.txt", max_length=max_length)
        return cls(load_safetensors(root / "model.safetensors"), config, tokenizer, dtype)

    def _gelu(self, x: FloatArray) -> FloatArray:
        return gelu_float32(x) if x.dtype == np.float32 else gelu(x)

    def forward(self, input_ids: ArrayLike, attention_mask: ArrayLike) -> FloatArray:
        """The last hidden states (batch, length, hidden_size) of ids (batch, length) with a
        mask (batch, length) that is 1 on real tokens and 0 on padding."""
        ids = np.asarray(input_ids)
        mask = np.asarray(attention_mask).astype(bool)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"input_ids must be a 2-d integer array, got {ids.dtype} {ids.shape}")
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask must have the shape of input_ids {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"input_ids must lie in [0, {self.config.vocab_size})")
        batch, length = ids.shape
        if length > self.config.max_position_embeddings:
            raise ValueError(f"input_ids: at most {self.config.max_position_embeddings} tokens")
        cfg = self.config
        heads, head_dim = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
        eps = cfg.layer_norm_eps
        # Hidden states are kept as (batch * length, hidden): one matrix product per weight.
        h = (self.word_embeddings[ids] + self.position_embeddings[:length]).reshape(
            -1, cfg.hidden_size
        )
        h = layer_norm(h, h.shape[-1], *self.embed_ln, eps)
        allowed = mask[:, None, None, :]  # (batch, 1, 1, keys): padding is never attended to
        for layer in self.layers:
            qkv = h @ layer.qkv_w
            qkv += layer.qkv_b
            # (batch, length, 3, heads, head_dim) -> three (batch, heads, length, head_dim)
            q, k, v = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            context = scaled_dot_product_attention(q, k, v, attn_mask=allowed)
            a = context.transpose(0, 2, 1, 3).reshape(-1, cfg.hidden_size) @ layer.out_w
            a += layer.out_b
            a += h
            h = layer_norm(a, a.shape[-1], layer.ln1_w, layer.ln1_b, eps)
            f = h @ layer.ffn_in_w
            f += layer.ffn_in_b
            f = self._gelu(f) @ layer.ffn_out_w
            f += layer.ffn_out_b
            f += h
            h = layer_norm(f, f.shape[-1], layer.ln2_w, layer.ln2_b, eps)
        return h.reshape(batch, length, cfg.hidden_size)

    def embed(self, texts: list[str], batch_size: int = 32) -> FloatArray:
        """One unit-length row per text: the masked mean of the last hidden states, L2-normed.

        Texts are encoded in batches of ``batch_size``, grouped by token count so that little
        padding is computed; rows come back in the order of ``texts``."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a list of str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        encoded = [self.tokenizer.encode(t) for t in texts]
        out = np.empty((len(texts), self.config.hidden_size), self.dtype)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), np.int64)
            mask = np.zeros((len(chunk), length), bool)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = True
            hidden = self.forward(ids, mask)
            counts = mask.sum(axis=1, keepdims=True).astype(self.dtype)
            pooled = np.einsum("bl,blh->bh", mask.astype(self.dtype), hidden) / counts
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[chunk] = pooled / np.maximum(norms, 1e-12)
        return out
