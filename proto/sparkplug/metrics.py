"""Typed, immutable records of the Sparkplug B payload parts: metrics and what they hold.

These are the values the edge publisher and the cloud bridge work with; the mapping
to and from the protobuf classes lives in `proto.sparkplug.convert`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from proto.sparkplug.datatypes import DataType, Scalar

BD_SEQ: Final = "bdSeq"
"""Birth/death sequence metric: in NBIRTH and NDEATH, Int64, 0..255 (spec 6.4.18)."""
REBIRTH: Final = "Node Control/Rebirth"
"""Boolean metric: false in NBIRTH, true in an NCMD asking the node to rebirth."""

QUALITY: Final = "Quality"
"""Property carrying OPC-style quality as Int32 (spec 6.4.8)."""
QUALITY_BAD: Final = 0
QUALITY_GOOD: Final = 192
QUALITY_STALE: Final = 500


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One typed property value; value None means null."""

    datatype: DataType
    value: PropertyScalar | PropertySet | tuple[PropertySet, ...] | None


PropertySet = Mapping[str, PropertyValue]
"""Properties by key, in order (spec 6.4.8); read-only once inside a record."""

PropertyScalar = int | float | bool | str


@dataclass(frozen=True, slots=True)
class MetaData:
    """Optional description of a metric value (spec 6.4.5); None means absent."""

    is_multi_part: bool | None = None
    content_type: str | None = None
    size: int | None = None
    seq: int | None = None
    file_name: str | None = None
    file_type: str | None = None
    md5: str | None = None
    description: str | None = None


DataSetCell = int | float | bool | str | None


@dataclass(frozen=True, slots=True)
class DataSet:
    """A table of typed columns (spec 6.4.6); None cells are nulls."""

    columns: tuple[str, ...]
    types: tuple[DataType, ...]
    rows: tuple[tuple[DataSetCell, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """A named, typed parameter of a template (spec 6.4.7)."""

    name: str
    datatype: DataType
    value: PropertyScalar | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A template definition or instance (spec 6.4.7)."""

    metrics: tuple[Metric, ...] = ()
    parameters: tuple[TemplateParameter, ...] = ()
    version: str | None = None
    template_ref: str | None = None
    is_definition: bool = False


MetricValue = Scalar | DataSet | Template | None
"""What a metric holds; None is a null value."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One value of one tag: name and/or alias, data type, value and flags (spec 6.4.4).

    A DATA metric may carry only its alias and no data type (resolve it with an
    `AliasTable`); arrays are tuples, DateTime is an int of ms, null is value None.
    """

    name: str | None
    datatype: DataType
    value: MetricValue = None
    alias: int | None = None
    timestamp: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    properties: PropertySet = field(default_factory=lambda: MappingProxyType({}))
    metadata: MetaData | None = None

    def __post_init__(self) -> None:
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))
        if not isinstance(self.properties, MappingProxyType):
            object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))

    @property
    def is_null(self) -> bool:
        """True when the metric carries no value."""
        return self.value is None

    @property
    def key(self) -> str | int:
        """The name when known, else the alias: what identifies the metric in a message."""
        if self.name is not None:
            return self.name
        if self.alias is not None:
            return self.alias
        raise ValueError("metric has neither name nor alias")


def property_set(items: Mapping[str, PropertyValue] | Sequence[tuple[str, PropertyValue]]) -> PropertySet:
    """A read-only property set from a mapping or (key, value) pairs."""
    return MappingProxyType(dict(items))
