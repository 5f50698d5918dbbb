"""DescribeImages answers parsed fast: the same dicts botocore's parser makes, in a third of the
time.

Parsing an answer was most of an unchanged run (docs/performance.md, "Where an unchanged run's
time goes"): botocore walks the XML generically, shape by shape. `ImagesParser` compiles the
pinned model's `DescribeImagesResult` shape once into a table per structure (XML name -> member,
kind) and walks the tree with it. Anything the table does not cover exactly as botocore would
parse it (a repeated element, a number that does not parse, a shape feature the table does not
know) hands the whole answer back to botocore's parser, so the result is always botocore's
(tests/unit/aws/test_parsing.py proves it field for field, every member of the `Image` shape
included). Every other operation, and every error answer, is botocore's own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.parsers import EC2QueryParser, ResponseParserError, ResponseParserFactory

FAST_OUTPUT = "DescribeImagesResult"
_STRING, _BOOLEAN, _INTEGER, _FLOAT, _TIMESTAMP, _STRUCTURE, _LIST = range(7)
_KINDS = {"string": _STRING, "boolean": _BOOLEAN, "integer": _INTEGER, "long": _INTEGER,
          "float": _FLOAT, "double": _FLOAT, "timestamp": _TIMESTAMP,
          "structure": _STRUCTURE, "list": _LIST}  # fmt: skip


class Irregular(Exception):
    """This answer (or shape) is not one the table parses as botocore would: botocore's turn."""


Table = dict[str, tuple[str, int, Any]]  # XML name -> (member name, kind, what it holds)


def compile_shape(shape: Any, tables: dict[str, Table] | None = None) -> Table:
    """The table of a structure shape; Irregular for what it does not cover."""
    tables = {} if tables is None else tables
    if shape.name in tables:
        return tables[shape.name]
    if getattr(shape, "is_tagged_union", False) or "resultWrapper" in shape.serialization:
        raise Irregular(f"{shape.name}: a union or a wrapped result")
    table: Table = {}
    tables[shape.name] = table  # recursive shapes refer to the table being filled
    for name, member in shape.members.items():
        serialization = member.serialization
        if serialization.get("location") or serialization.get("xmlAttribute"):
            raise Irregular(f"{shape.name}.{name}: a member outside the body")
        kind = _KINDS.get(member.type_name)
        if kind is None or serialization.get("flattened"):
            raise Irregular(f"{shape.name}.{name}: {member.type_name} is not in the table")
        table[serialization.get("name") or name] = (name, kind, _held(member, kind, tables))
    return table


def _held(member: Any, kind: int, tables: dict[str, Table]) -> Any:
    if kind == _STRUCTURE:
        return compile_shape(member, tables)
    if kind == _LIST:
        item = member.member
        item_kind = _KINDS.get(item.type_name)
        if item_kind is None or item_kind == _LIST or item.serialization.get("flattened"):
            raise Irregular(f"{member.name}: a list of {item.type_name}")
        return (item_kind, _held(item, item_kind, tables))
    return None


class ImagesParser(EC2QueryParser):  # type: ignore[misc]
    """EC2's parser, with DescribeImages answers walked by a compiled table."""

    _tables: ClassVar[dict[str, Table]] = {}

    def _do_parse(self, response: dict[str, Any], shape: Any) -> Any:
        if shape is None or shape.name != FAST_OUTPUT:
            return super()._do_parse(response, shape)
        try:
            table = self._table(shape)
            root = self._parse_xml_string_to_dom(response["body"])
            parsed = self._structure(root, table)
        except (Irregular, ResponseParserError, ValueError):
            return super()._do_parse(response, shape)
        self._inject_response_metadata(root, parsed)
        return parsed

    def _table(self, shape: Any) -> Table:
        tables = ImagesParser._tables
        if shape.name not in tables:
            tables[shape.name] = compile_shape(shape, {})
        return tables[shape.name]

    def _structure(self, node: Any, table: Table) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        for child in node:
            tag = child.tag
            entry = table.get(tag[tag.index("}") + 1 :] if tag[0] == "{" else tag)
            if entry is None:
                continue  # not in the model: botocore leaves it out too
            name, kind, held = entry
            if name in parsed:
                raise Irregular(f"{name} repeated")  # botocore would hand on a list of nodes
            parsed[name] = self._value(child, kind, held)
        return parsed

    def _value(self, node: Any, kind: int, held: Any) -> Any:
        if kind == _STRING:
            return node.text or ""
        if kind == _STRUCTURE:
            return self._structure(node, held)
        if kind == _LIST:
            item_kind, item_held = held
            return [self._value(item, item_kind, item_held) for item in node]
        text = node.text or ""
        if kind == _BOOLEAN:
            return text == "true"
        if kind == _INTEGER:
            return int(text)
        if kind == _FLOAT:
            return float(text)
        return self._timestamp_parser(text)


class FastImagesParserFactory(ResponseParserFactory):  # type: ignore[misc]
    """botocore's parser factory, with EC2's answers to DescribeImages parsed by ImagesParser."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "ec2":
            return ImagesParser(**self._defaults)
        return super().create_parser(protocol_name)
