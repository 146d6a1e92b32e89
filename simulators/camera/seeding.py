"""Stable seeding: numpy generators keyed by a seed and names, never by Python's salted hash()."""

from __future__ import annotations

import hashlib

import numpy as np

Key = str | int


def stable_words(text: str) -> tuple[int, int]:
    """Two 32-bit words from a BLAKE2b digest of ``text``, the same in every process and version."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def seed_sequence(seed: int, *keys: Key) -> np.random.SeedSequence:
    """A SeedSequence from a non-negative seed and a path of string or integer keys."""
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    entropy: list[int] = [int(seed)]
    for key in keys:
        if isinstance(key, str):
            entropy.extend(stable_words(key))
        elif key < 0:
            raise ValueError(f"integer keys must be non-negative, got {key}")
        else:
            entropy.append(int(key))
    return np.random.SeedSequence(entropy)


def generator(seed: int, *keys: Key) -> np.random.Generator:
    """A PCG64 generator for ``seed`` and a key path, independent of every other path."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *keys)))


def derive_seed(seed: int, *keys: Key) -> int:
    """A 63-bit integer seed for a sub-component, derived from ``seed`` and a key path."""
    return int(seed_sequence(seed, *keys).generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)
