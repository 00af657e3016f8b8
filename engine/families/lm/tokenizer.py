"""The lab's tokenizer: byte-level BPE trained on the experiment's own training text with the
`tokenizers` library, kept as its JSON (store.lm_runs.tokenizer) so that every later
analysis reads the text with the very tokenizer the models were trained with.

Byte-level: every text encodes (no unknown token); documents are separated by <|endoftext|>
(id 0). Training is deterministic: the same text gives the same JSON (tests/test_lm.py).
"""

from __future__ import annotations

import base64

import numpy as np

from ...config import ConfigError

EOT = "<|endoftext|>"


def train_tokenizer(texts: list[str], vocab_size: int) -> str:
    """A byte-level BPE of at most vocab_size tokens trained on texts; its JSON."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


def load(tokenizer_json: str):
    from tokenizers import Tokenizer
    return Tokenizer.from_str(tokenizer_json)


def encode_documents(tokenizer_json: str, docs: tuple[str, ...] | list[str]) -> np.ndarray:
    """One token stream: each document's ids followed by <|endoftext|>."""
    tok = load(tokenizer_json)
    eot = tok.token_to_id(EOT)
    parts = []
    for enc in tok.encode_batch(list(docs)):
        parts.append(np.asarray(enc.ids, dtype=np.int64))
        parts.append(np.array([eot], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def vocab_used(tokenizer_json: str) -> int:
    return load(tokenizer_json).get_vocab_size()


def pack(ids: np.ndarray) -> str:
    """Token ids as base64 of little-endian uint16: how they travel in a unit's inputs."""
    if ids.size and int(ids.max()) >= 1 << 16:
        raise ConfigError(["a token id does not fit in 16 bits; use a smaller vocab_size"])
    return base64.b64encode(ids.astype("<u2").tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u2").astype(np.int64)
