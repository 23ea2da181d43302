"""Request keys that every provider accepts: OpenAI and Anthropic ``custom_id`` allow ``[A-Za-z0-9_-]{1,64}``."""

from __future__ import annotations

import hashlib
import re

import msgspec

PORTABLE_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
HASHED_PREFIX = "k-"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(str).decode


def portable_id(key: str) -> str:
    """The key itself when every provider accepts it, else a deterministic ``k-`` + 40-hex sha256 digest.

    Deterministic so the original key can be recovered by hashing the input keys again; 160 bits make a
    collision between two keys of one batch practically impossible.
    """
    return key if PORTABLE_ID.fullmatch(key) else hashed_id(key, HASHED_PREFIX)


def hashed_id(key: str, prefix: str) -> str:
    """``prefix`` + the first 40 hex digits of the key's sha256: the one scheme for ids a key cannot be."""
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def key_line(key: str) -> bytes:
    """A key as one line of a keys file: JSON-encoded, so keys with line breaks survive."""
    return _encode(key) + b"\n"


def key_lines(keys: list[str]) -> bytes:
    """Keys as lines of a keys file, each as :func:`key_line` writes it, encoded in one pass over the list."""
    return b"\n".join(map(_encode, keys)) + b"\n" if keys else b""


def read_key_line(line: bytes) -> str:
    """The key stored in one line of a keys file."""
    return _decode(line)
