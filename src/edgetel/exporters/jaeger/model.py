"""Jaeger's api_v2 protobuf messages, built at import time from the published IDL field numbers.

No generated code and no jaeger package: the descriptors are written here as a `FileDescriptorProto` and
loaded into a private descriptor pool, so nothing clashes with other protobuf users. Equivalent to:

    package jaeger.api_v2;
    enum ValueType { STRING = 0; BOOL = 1; INT64 = 2; FLOAT64 = 3; BINARY = 4; }
    message KeyValue { string key = 1; ValueType v_type = 2; string v_str = 3; bool v_bool = 4;
                       int64 v_int64 = 5; double v_float64 = 6; bytes v_binary = 7; }
    message Log { google.protobuf.Timestamp timestamp = 1; repeated KeyValue fields = 2; }
    enum SpanRefType { CHILD_OF = 0; FOLLOWS_FROM = 1; }
    message SpanRef { bytes trace_id = 1; bytes span_id = 2; SpanRefType ref_type = 3; }
    message Process { string service_name = 1; repeated KeyValue tags = 2; }
    message Span { bytes trace_id = 1; bytes span_id = 2; string operation_name = 3;
                   repeated SpanRef references = 4; uint32 flags = 5; google.protobuf.Timestamp start_time = 6;
                   google.protobuf.Duration duration = 7; repeated KeyValue tags = 8; repeated Log logs = 9;
                   Process process = 10; string process_id = 11; repeated string warnings = 12; }
    message Batch { repeated Span spans = 1; Process process = 2; }
    message PostSpansRequest { Batch batch = 1; }
    message PostSpansResponse {}
    service CollectorService { rpc PostSpans(PostSpansRequest) returns (PostSpansResponse); }
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (  # type: ignore[import-untyped,unused-ignore]
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    message_factory,
    timestamp_pb2,
)

PACKAGE = "jaeger.api_v2"
POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"

STRING, BOOL, INT64, FLOAT64, BINARY = range(5)
CHILD_OF, FOLLOWS_FROM = 0, 1

_F = descriptor_pb2.FieldDescriptorProto
_T = {
    "string": _F.TYPE_STRING,
    "bool": _F.TYPE_BOOL,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "double": _F.TYPE_DOUBLE,
    "bytes": _F.TYPE_BYTES,
    "int32": _F.TYPE_INT32,
    "fixed32": _F.TYPE_FIXED32,
    "fixed64": _F.TYPE_FIXED64,
}

# message -> [(field name, number, type, repeated)]; a type starting with "." is a message or enum name.
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "KeyValue": [
        ("key", 1, "string", False),
        ("v_type", 2, ".jaeger.api_v2.ValueType", False),
        ("v_str", 3, "string", False),
        ("v_bool", 4, "bool", False),
        ("v_int64", 5, "int64", False),
        ("v_float64", 6, "double", False),
        ("v_binary", 7, "bytes", False),
    ],
    "Log": [("timestamp", 1, ".google.protobuf.Timestamp", False), ("fields", 2, ".jaeger.api_v2.KeyValue", True)],
    "SpanRef": [
        ("trace_id", 1, "bytes", False),
        ("span_id", 2, "bytes", False),
        ("ref_type", 3, ".jaeger.api_v2.SpanRefType", False),
    ],
    "Process": [("service_name", 1, "string", False), ("tags", 2, ".jaeger.api_v2.KeyValue", True)],
    "Span": [
        ("trace_id", 1, "bytes", False),
        ("span_id", 2, "bytes", False),
        ("operation_name", 3, "string", False),
        ("references", 4, ".jaeger.api_v2.SpanRef", True),
        ("flags", 5, "uint32", False),
        ("start_time", 6, ".google.protobuf.Timestamp", False),
        ("duration", 7, ".google.protobuf.Duration", False),
        ("tags", 8, ".jaeger.api_v2.KeyValue", True),
        ("logs", 9, ".jaeger.api_v2.Log", True),
        ("process", 10, ".jaeger.api_v2.Process", False),
        ("process_id", 11, "string", False),
        ("warnings", 12, "string", True),
    ],
    "Batch": [("spans", 1, ".jaeger.api_v2.Span", True), ("process", 2, ".jaeger.api_v2.Process", False)],
    "PostSpansRequest": [("batch", 1, ".jaeger.api_v2.Batch", False)],
    "PostSpansResponse": [],
}
_ENUMS = {
    "ValueType": ["STRING", "BOOL", "INT64", "FLOAT64", "BINARY"],
    "SpanRefType": ["CHILD_OF", "FOLLOWS_FROM"],
}


def message_classes(
    file_name: str,
    package: str,
    messages: dict[str, list[tuple[str, int, str, bool]]],
    enums: dict[str, list[str]] | None = None,
    services: dict[str, list[tuple[str, str, str]]] | None = None,
) -> dict[str, Any]:
    """Message classes for a proto3 file described as plain tables, in a private descriptor pool."""
    enums = enums or {}
    fd = descriptor_pb2.FileDescriptorProto(
        name=file_name,
        package=package,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"],
    )
    for name, values in enums.items():
        enum = fd.enum_type.add(name=name)
        for number, value in enumerate(values):
            enum.value.add(name=value, number=number)
    for name, fields in messages.items():
        msg = fd.message_type.add(name=name)
        for fname, number, ftype, repeated in fields:
            f = msg.field.add(name=fname, number=number)
            f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if ftype.startswith("."):
                f.type_name = ftype
                f.type = _F.TYPE_ENUM if ftype.rsplit(".", 1)[1] in enums else _F.TYPE_MESSAGE
            else:
                f.type = _T[ftype]
    for svc_name, methods in (services or {}).items():
        svc = fd.service.add(name=svc_name)
        for method, request, response in methods:
            svc.method.add(name=method, input_type=request, output_type=response)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(duration_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(fd.SerializeToString())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}")) for name in messages}


_classes = message_classes(
    "edgetel/jaeger/api_v2.proto",
    PACKAGE,
    _MESSAGES,
    _ENUMS,
    {"CollectorService": [("PostSpans", ".jaeger.api_v2.PostSpansRequest", ".jaeger.api_v2.PostSpansResponse")]},
)
KeyValue: Any = _classes["KeyValue"]
Log: Any = _classes["Log"]
SpanRef: Any = _classes["SpanRef"]
Process: Any = _classes["Process"]
Span: Any = _classes["Span"]
Batch: Any = _classes["Batch"]
PostSpansRequest: Any = _classes["PostSpansRequest"]
PostSpansResponse: Any = _classes["PostSpansResponse"]
