"""Metric name <-> alias table of one edge node (spec 6.4.4, aliases).

Aliases are unique across an edge node and all its devices; names are unique per
node or device. The publisher assigns aliases at birth and sends DATA by alias; the
host learns them from NBIRTH/DBIRTH and resolves DATA metrics back to names and
data types. An NBIRTH starts a new table; a DBIRTH replaces that device's entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from proto.errors import DecodeError, EncodeError, UnknownAliasError
from proto.sparkplug.datatypes import DataType
from proto.sparkplug.metrics import Metric


@dataclass(frozen=True, slots=True)
class AliasEntry:
    """What a birth said about one metric."""

    alias: int | None
    name: str
    datatype: DataType
    device_id: str | None


class AliasTable:
    """Mutable name/alias/data type registry of one edge node and its devices."""

    def __init__(self, first_alias: int = 1) -> None:
        self._first = first_alias
        self._by_alias: dict[int, AliasEntry] = {}
        self._by_name: dict[tuple[str | None, str], AliasEntry] = {}

    def __len__(self) -> int:
        return len(self._by_alias)

    def clear(self) -> None:
        """Forget everything (a new NBIRTH session)."""
        self._by_alias.clear()
        self._by_name.clear()

    def forget_device(self, device_id: str) -> None:
        """Forget one device's entries (before its new DBIRTH, or on DDEATH)."""
        for key in [k for k in self._by_name if k[0] == device_id]:
            alias = self._by_name.pop(key).alias
            if alias is not None:
                del self._by_alias[alias]

    def assign(self, name: str, datatype: DataType, device_id: str | None = None) -> int:
        """Publisher side: the alias of a metric, assigning the next free one if new."""
        known = self._by_name.get((device_id, name))
        if known is not None:
            if known.datatype is not datatype:
                raise EncodeError(f"metric {name!r} was born as {known.datatype.name}, not {datatype.name}")
            if known.alias is None:
                raise EncodeError(f"metric {name!r} was born without an alias")
            return known.alias
        alias = max(self._by_alias, default=self._first - 1) + 1
        self._add(AliasEntry(alias, name, datatype, device_id), error=EncodeError)
        return alias

    def aliased(self, metrics: Iterable[Metric], device_id: str | None = None) -> tuple[Metric, ...]:
        """Publisher side: the metrics with their aliases set, assigning new ones as needed."""
        out = []
        for metric in metrics:
            if metric.name is None:
                raise EncodeError(f"metric with alias {metric.alias} has no name to assign an alias to")
            out.append(replace(metric, alias=self.assign(metric.name, metric.datatype, device_id)))
        return tuple(out)

    def learn(self, metrics: Iterable[Metric], device_id: str | None = None) -> None:
        """Host side: record a decoded birth; an NBIRTH (no device) starts a new table."""
        if device_id is None:
            self.clear()
        else:
            self.forget_device(device_id)
        for metric in metrics:
            if metric.name is None:
                raise DecodeError(f"birth metric with alias {metric.alias} has no name")
            self._add(AliasEntry(metric.alias, metric.name, metric.datatype, device_id), error=DecodeError)

    def entry(self, alias: int) -> AliasEntry:
        """The entry of an alias; UnknownAliasError if no birth defined it."""
        try:
            return self._by_alias[alias]
        except KeyError:
            raise UnknownAliasError(f"alias {alias} was not defined by a birth") from None

    def entry_by_name(self, name: str, device_id: str | None = None) -> AliasEntry:
        """The entry of a named metric; UnknownAliasError if no birth defined it."""
        try:
            return self._by_name[(device_id, name)]
        except KeyError:
            where = f"device {device_id!r}" if device_id else "the node"
            raise UnknownAliasError(f"metric {name!r} of {where} was not defined by a birth") from None

    def lookup(self, name: str | None, alias: int | None, device_id: str | None = None) -> AliasEntry:
        """The entry for a DATA metric, by alias when it has one, else by name."""
        if alias is not None:
            found = self.entry(alias)
            if found.device_id != device_id:
                raise UnknownAliasError(
                    f"alias {alias} belongs to device {found.device_id!r}, not {device_id!r}"
                )
            return found
        if name is None:
            raise DecodeError("metric has neither name nor alias")
        return self.entry_by_name(name, device_id)

    def resolve(self, metric: Metric, device_id: str | None = None) -> Metric:
        """Host side: the metric with name and data type filled in from the birth."""
        found = self.lookup(metric.name, metric.alias, device_id)
        return replace(metric, name=found.name, datatype=found.datatype)

    def _add(self, entry: AliasEntry, *, error: type[DecodeError | EncodeError]) -> None:
        key = (entry.device_id, entry.name)
        if key in self._by_name and self._by_name[key].alias != entry.alias:
            raise error(
                f"metric {entry.name!r} born twice, with aliases {self._by_name[key].alias} and {entry.alias}"
            )
        if entry.alias is not None:
            other = self._by_alias.get(entry.alias)
            if other is not None and (other.device_id, other.name) != key:
                raise error(f"alias {entry.alias} given to both {other.name!r} and {entry.name!r}")
            self._by_alias[entry.alias] = entry
        self._by_name[key] = entry
