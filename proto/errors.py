"""Errors raised by the wire contract.

    ContractError                 anything the contract refuses
    ├── DecodeError               bytes that are not a valid message (malformed or semantically wrong)
    │   └── UnknownAliasError     a Sparkplug DATA metric whose alias no birth defined: ask for a rebirth
    ├── EncodeError               a value that cannot be put on the wire
    ├── TopicError                a topic or topic id that does not fit the namespace
    └── GenerationError           protoc failed while regenerating the Python code

None of them is retriable: the same bytes or values fail the same way again. Decode
errors wrap the protobuf, JSON or struct error that revealed the problem as __cause__.
"""

from __future__ import annotations


class ContractError(Exception):
    """Base class of every error raised by the `proto` package."""

    retriable = False


class DecodeError(ContractError):
    """Bytes that do not decode to a valid message of the expected type."""


class UnknownAliasError(DecodeError):
    """A Sparkplug metric refers to an alias (or name) that no birth message defined."""


class EncodeError(ContractError):
    """A value that cannot be encoded, e.g. out of range for its Sparkplug data type."""


class TopicError(ContractError):
    """A topic that does not parse, or an id that cannot be part of a topic."""


class GenerationError(ContractError):
    """protoc failed while regenerating the committed Python code."""
