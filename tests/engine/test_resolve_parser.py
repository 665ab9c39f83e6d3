"""The template parser: every form of the official syntax, nesting, and precise syntax errors."""

from __future__ import annotations

import pytest

from gpf_flow.resolve import TemplateSyntaxError, parse
from gpf_flow.resolve.nodes import DateRef, FileRef, PathRef, StoreEntityRef, Text


def only(text: str):
    whole = parse(text).whole
    assert whole is not None, text
    return whole


def test_store_entity_infos_field_with_filters() -> None:
    ref = only("{store_entity.stored_data.infos._id [INFOS(name=Base, type=VECTOR-DB), TAGS(k=v)]}")
    assert isinstance(ref, StoreEntityRef)
    assert ref.entity_type == "stored_data"
    assert (ref.select, ref.kind, ref.path) == ("FIRST", "infos", ("_id",))
    assert [(f.key, f.value.parts) for f in ref.infos] == [
        ("name", (Text("Base"),)),
        ("type", (Text("VECTOR-DB"),)),
    ]
    assert [(f.key, f.value.parts) for f in ref.tags] == [("k", (Text("v"),))]


def test_store_entity_one_all_dotted_indexed_and_tags() -> None:
    ref = only("{store_entity.offering.ALL.infos.urls[0].url [INFOS(layer_name=x)]}")
    assert isinstance(ref, StoreEntityRef)
    assert (ref.select, ref.path) == ("ALL", ("urls", 0, "url"))
    deep = only("{store_entity.processing_execution.infos.output.stored_data._id [TAGS(a=b)]}")
    assert isinstance(deep, StoreEntityRef)
    assert deep.path == ("output", "stored_data", "_id") and not deep.infos
    whole = only("{store_entity.configuration.ONE [INFOS(name=c)]}")
    assert isinstance(whole, StoreEntityRef)
    assert (whole.select, whole.kind) == ("ONE", "entity")
    tag = only("{store_entity.upload.tags.version [INFOS(name=u) TAGS(x=y)]}")
    assert isinstance(tag, StoreEntityRef)
    assert (tag.kind, tag.path, len(tag.tags)) == ("tags", ("version",), 1)


def test_nested_template_inside_filter_and_free_text_values() -> None:
    ref = only("{store_entity.configuration.infos._id [INFOS(name={user.last_name}__{params.n} wfs)]}")
    assert isinstance(ref, StoreEntityRef)
    parts = ref.infos[0].value.parts
    assert isinstance(parts[0], PathRef) and parts[0].path == ("last_name",)
    assert parts[1] == Text("__")
    assert isinstance(parts[2], PathRef) and parts[2].raw == "n"
    assert parts[3] == Text(" wfs")
    accented = only("{store_entity.processing.infos._id [INFOS(name=Recopie d'une archive livrée (v2))]}")
    assert isinstance(accented, StoreEntityRef)
    assert accented.infos[0].value.parts == (Text("Recopie d'une archive livrée (v2)"),)


def test_inline_templates_and_literal_braces() -> None:
    parsed = parse("{params.a}_x {z}/{x}/{y} {unknown.thing} {user.first_name}")
    kinds = [type(p).__name__ for p in parsed.parts]
    assert kinds == ["PathRef", "Text", "PathRef"]
    assert parsed.parts[1] == Text("_x {z}/{x}/{y} {unknown.thing} ")
    assert parse("no template").is_literal


def test_datetime_and_files_forms() -> None:
    ref = only("{datetime.now.add(days=-1, hour=2).add(months=1).strtime(%Y-%m-%d (%H))}")
    assert isinstance(ref, DateRef)
    assert ref.shifts == (("days", -1.0), ("hours", 2.0), ("months", 1.0))
    assert (ref.output, ref.fmt) == ("strtime", "%Y-%m-%d (%H)")
    assert isinstance(only("{datetime.now.date}"), DateRef)
    file = only("{files.dict(data/conf.json)}")
    assert isinstance(file, FileRef) and (file.mode, file.file) == ("dict", "data/conf.json")


def test_iter_resolve_and_extra_resolvers() -> None:
    ref = only("{iter_resolve_0.layer.name}")
    assert isinstance(ref, PathRef) and ref.path == ("layer", "name")
    assert parse("{custom.x}").is_literal
    assert not parse("{custom.x}", ("custom",)).is_literal


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("{store_entity.foo.infos._id [INFOS(a=b)]}", "unknown entity type 'foo'", 15),
        ("{store_entity.upload.infos._id}", "filter block is mandatory", 31),
        ("{store_entity.upload.infos._id [INFOS(a=b)]", "'}' closing the template", 44),
        ("{store_entity.upload.infos._id [INFOS(ab)]}", "expected key=value", 39),
        ("{store_entity.upload.nope._id [INFOS(a=b)]}", "expected ONE, ALL, infos or tags", 22),
        ("{store_entity.upload.infos._id [FILTER(a=b)]}", "expected INFOS(...), TAGS(...)", 33),
        ("{datetime.now.add(dayz=1).date}", "unknown unit 'dayz'", 25),
        ("{datetime.now.week}", "expected add(...), date", 15),
        ("{files.yaml(x)}", "files.str(path)", 8),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse(text)
    assert message in str(info.value)
    assert f"column {column}:" in str(info.value)
    assert text in str(info.value)
