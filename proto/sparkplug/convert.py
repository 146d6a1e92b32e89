"""Mapping between the typed Sparkplug records and the generated protobuf classes.

Encoding raises EncodeError for values that do not fit their data type; decoding
raises DecodeError for messages that parse as protobuf but break the specification
(a value in the wrong field, a data set row of the wrong width, an unknown type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from proto.errors import DecodeError, EncodeError
from proto.sparkplug.datatypes import (
    ARRAY_TYPES,
    CONTAINER_TYPES,
    DataType,
    Raw,
    decode_scalar,
    encode_scalar,
    to_datatype,
)
from proto.sparkplug.metrics import (
    DataSet,
    DataSetCell,
    MetaData,
    Metric,
    MetricValue,
    PropertySet,
    PropertyValue,
    Template,
    TemplateParameter,
    property_set,
)
from proto.sparkplug_b import sparkplug_b_pb2 as pb

PbMetric = pb.Payload.Metric
_SIMPLE_FIELDS = frozenset(
    {"int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value"}
)
_METADATA_FIELDS = (
    "is_multi_part",
    "content_type",
    "size",
    "seq",
    "file_name",
    "file_type",
    "md5",
    "description",
)


def metric_to_pb(metric: Metric, *, include_name: bool = True, include_datatype: bool = True) -> PbMetric:
    """The protobuf form of a metric; DATA messages may leave out name and data type."""
    out = PbMetric()
    try:
        if include_name and metric.name is not None:
            out.name = metric.name
        if metric.alias is not None:
            out.alias = metric.alias
        if metric.timestamp is not None:
            out.timestamp = metric.timestamp
        if include_datatype:
            if metric.datatype is DataType.UNKNOWN:
                raise EncodeError(f"metric {metric.key!r} has no data type")
            out.datatype = int(metric.datatype)
        if metric.is_historical:
            out.is_historical = True
        if metric.is_transient:
            out.is_transient = True
        if metric.metadata is not None:
            _metadata_to_pb(metric.metadata, out.metadata)
        if metric.properties:
            _properties_to_pb(metric.properties, out.properties)
        if metric.value is None:
            out.is_null = True
        else:
            _metric_value_to_pb(metric, out)
    except (ValueError, TypeError, OverflowError) as exc:
        raise EncodeError(f"metric {metric.name or metric.alias!r}: {exc}") from exc
    return out


def metric_from_pb(msg: PbMetric, *, datatype: DataType | None = None, name: str | None = None) -> Metric:
    """The typed metric; datatype and name fill in what a DATA message left out."""
    wire_type = to_datatype(msg.datatype) if msg.HasField("datatype") else None
    resolved = wire_type or datatype or DataType.UNKNOWN
    label = msg.name if msg.HasField("name") else (name or msg.alias)
    try:
        value = None if msg.is_null else _metric_value_from_pb(msg, resolved)
    except DecodeError as exc:
        raise DecodeError(f"metric {label!r}: {exc}") from exc
    return Metric(
        name=msg.name if msg.HasField("name") else name,
        datatype=resolved,
        value=value,
        alias=msg.alias if msg.HasField("alias") else None,
        timestamp=msg.timestamp if msg.HasField("timestamp") else None,
        is_historical=msg.is_historical,
        is_transient=msg.is_transient,
        properties=_properties_from_pb(msg.properties) if msg.HasField("properties") else property_set({}),
        metadata=_metadata_from_pb(msg.metadata) if msg.HasField("metadata") else None,
    )


def _metric_value_to_pb(metric: Metric, out: PbMetric) -> None:
    datatype, value = metric.datatype, metric.value
    if datatype is DataType.DATASET:
        if not isinstance(value, DataSet):
            raise EncodeError(f"DataSet metric {metric.key!r} needs a DataSet value")
        _dataset_to_pb(value, out.dataset_value)
    elif datatype is DataType.TEMPLATE:
        if not isinstance(value, Template):
            raise EncodeError(f"Template metric {metric.key!r} needs a Template value")
        _template_to_pb(value, out.template_value)
    elif datatype in CONTAINER_TYPES:
        raise EncodeError(f"{datatype.name} is a property type, not a metric type")
    else:
        field, raw = encode_scalar(datatype, value)
        setattr(out, field, raw)


def _metric_value_from_pb(msg: PbMetric, datatype: DataType) -> MetricValue:
    field = msg.WhichOneof("value")
    if field is None:
        return None
    if field == "extension_value":
        raise DecodeError("extension values are not supported")
    if field == "dataset_value":
        if datatype not in (DataType.DATASET, DataType.UNKNOWN):
            raise DecodeError(f"{datatype.name} value found in dataset_value")
        return _dataset_from_pb(msg.dataset_value)
    if field == "template_value":
        if datatype not in (DataType.TEMPLATE, DataType.UNKNOWN):
            raise DecodeError(f"{datatype.name} value found in template_value")
        return _template_from_pb(msg.template_value)
    raw = cast(Raw, getattr(msg, field))
    if datatype is DataType.UNKNOWN:
        return raw
    if datatype in CONTAINER_TYPES:
        raise DecodeError(f"{datatype.name} value found in {field}")
    return decode_scalar(datatype, field, raw)


def _properties_to_pb(props: PropertySet, out: pb.Payload.PropertySet) -> None:
    for key, prop in props.items():
        out.keys.append(key)
        _property_value_to_pb(key, prop, out.values.add())


def _property_value_to_pb(key: str, prop: PropertyValue, out: pb.Payload.PropertyValue) -> None:
    out.type = int(prop.datatype)
    value = prop.value
    if value is None:
        out.is_null = True
    elif prop.datatype is DataType.PROPERTYSET:
        if not isinstance(value, Mapping):
            raise EncodeError(f"property {key!r}: PropertySet needs a mapping")
        _properties_to_pb(value, out.propertyset_value)
    elif prop.datatype is DataType.PROPERTYSETLIST:
        if not isinstance(value, tuple | list) or not all(isinstance(v, Mapping) for v in value):
            raise EncodeError(f"property {key!r}: PropertySetList needs a sequence of mappings")
        for item in value:
            _properties_to_pb(item, out.propertysets_value.propertyset.add())
    else:
        field, raw = encode_scalar(prop.datatype, value)
        if field not in _SIMPLE_FIELDS:
            raise EncodeError(f"property {key!r}: {prop.datatype.name} cannot be a property value")
        setattr(out, field, raw)


def _properties_from_pb(msg: pb.Payload.PropertySet) -> PropertySet:
    if len(msg.keys) != len(msg.values):
        raise DecodeError(f"property set has {len(msg.keys)} keys but {len(msg.values)} values")
    return property_set(
        [(key, _property_value_from_pb(key, v)) for key, v in zip(msg.keys, msg.values, strict=True)]
    )


def _property_value_from_pb(key: str, msg: pb.Payload.PropertyValue) -> PropertyValue:
    datatype = to_datatype(msg.type) if msg.HasField("type") else DataType.UNKNOWN
    field = msg.WhichOneof("value")
    if msg.is_null or field is None:
        return PropertyValue(datatype, None)
    if field == "propertyset_value":
        return PropertyValue(datatype, _properties_from_pb(msg.propertyset_value))
    if field == "propertysets_value":
        return PropertyValue(
            datatype, tuple(_properties_from_pb(s) for s in msg.propertysets_value.propertyset)
        )
    if field == "extension_value":
        raise DecodeError(f"property {key!r}: extension values are not supported")
    raw = cast(Raw, getattr(msg, field))
    if datatype is DataType.UNKNOWN:
        return PropertyValue(datatype, cast(int | float | bool | str, raw))
    try:
        return PropertyValue(datatype, cast(int | float | bool | str, decode_scalar(datatype, field, raw)))
    except DecodeError as exc:
        raise DecodeError(f"property {key!r}: {exc}") from exc


def _dataset_to_pb(data: DataSet, out: pb.Payload.DataSet) -> None:
    if len(data.types) != len(data.columns):
        raise EncodeError(f"DataSet has {len(data.columns)} columns but {len(data.types)} types")
    out.num_of_columns = len(data.columns)
    out.columns.extend(data.columns)
    out.types.extend(int(t) for t in data.types)
    for row in data.rows:
        if len(row) != len(data.columns):
            raise EncodeError(f"DataSet row has {len(row)} cells, expected {len(data.columns)}")
        out_row = out.rows.add()
        for datatype, cell in zip(data.types, row, strict=True):
            element = out_row.elements.add()
            if cell is not None:
                _simple_to_pb(datatype, cell, element, "DataSet cell")


def _dataset_from_pb(msg: pb.Payload.DataSet) -> DataSet:
    columns = tuple(msg.columns)
    types = tuple(to_datatype(t) for t in msg.types)
    if len(types) != len(columns) or (msg.HasField("num_of_columns") and msg.num_of_columns != len(columns)):
        raise DecodeError(
            f"DataSet declares {msg.num_of_columns} columns, names {len(columns)}, types {len(types)}"
        )
    rows = []
    for row in msg.rows:
        if len(row.elements) != len(columns):
            raise DecodeError(f"DataSet row has {len(row.elements)} cells, expected {len(columns)}")
        cells: list[DataSetCell] = []
        for datatype, element in zip(types, row.elements, strict=True):
            field = element.WhichOneof("value")
            if field is None:
                cells.append(None)
            elif field == "extension_value":
                raise DecodeError("DataSet extension values are not supported")
            else:
                cells.append(cast(DataSetCell, decode_scalar(datatype, field, getattr(element, field))))
        rows.append(tuple(cells))
    return DataSet(columns=columns, types=types, rows=tuple(rows))


def _template_to_pb(template: Template, out: pb.Payload.Template) -> None:
    if template.version is not None:
        out.version = template.version
    if template.template_ref is not None:
        out.template_ref = template.template_ref
    out.is_definition = template.is_definition
    for member in template.metrics:
        out.metrics.append(metric_to_pb(member))
    for param in template.parameters:
        pb_param = out.parameters.add()
        pb_param.name = param.name
        pb_param.type = int(param.datatype)
        if param.value is not None:
            _simple_to_pb(param.datatype, param.value, pb_param, f"parameter {param.name!r}")


def _template_from_pb(msg: pb.Payload.Template) -> Template:
    params = []
    for param in msg.parameters:
        datatype = to_datatype(param.type)
        field = param.WhichOneof("value")
        value = None
        if field == "extension_value":
            raise DecodeError(f"parameter {param.name!r}: extension values are not supported")
        if field is not None:
            value = cast(int | float | bool | str, decode_scalar(datatype, field, getattr(param, field)))
        params.append(TemplateParameter(name=param.name, datatype=datatype, value=value))
    return Template(
        metrics=tuple(metric_from_pb(m) for m in msg.metrics),
        parameters=tuple(params),
        version=msg.version if msg.HasField("version") else None,
        template_ref=msg.template_ref if msg.HasField("template_ref") else None,
        is_definition=msg.is_definition,
    )


def _simple_to_pb(
    datatype: DataType,
    value: object,
    out: pb.Payload.DataSet.DataSetValue | pb.Payload.Template.Parameter,
    what: str,
) -> None:
    if datatype in ARRAY_TYPES or datatype in CONTAINER_TYPES:
        raise EncodeError(f"{what}: {datatype.name} is not allowed here")
    field, raw = encode_scalar(datatype, value)
    if field not in _SIMPLE_FIELDS:
        raise EncodeError(f"{what}: {datatype.name} is not allowed here")
    setattr(out, field, raw)


def _metadata_to_pb(meta: MetaData, out: pb.Payload.MetaData) -> None:
    for name in _METADATA_FIELDS:
        value = getattr(meta, name)
        if value is not None:
            setattr(out, name, value)


def _metadata_from_pb(msg: pb.Payload.MetaData) -> MetaData:
    return MetaData(**{name: getattr(msg, name) if msg.HasField(name) else None for name in _METADATA_FIELDS})
