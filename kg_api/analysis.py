"""The shape of a GraphQL operation, measured once per fragment: depth, nesting, aliases, cost.

A document may spread a fragment many times, and fragments may spread each other:
``fragment F1 on Query { ...F2 ...F2 }`` down to ``F30`` is 1 KB of text whose expansion has 2^30
selections. A walk that expands fragments (strawberry's depth and alias limiters, our former cost
walk) does that much work before execution, on the event loop. Here each fragment is measured
*once*, in dependency order, and a spread adds its fragment's measure; every walk is iterative
(an explicit stack), so neither a long chain of fragments nor a deep selection can exhaust
Python's stack. The work is linear in the document's size, which the parser already bounds
(``MIKO_API_MAX_TOKENS``).

The measures, over the operation with its fragments expanded (as execution would see it):

- ``depth``: fields nested in fields, counting the leaves (``{ posts { id } }`` is 2); a
  depth of n + 1 is what ``MIKO_API_MAX_DEPTH`` = n allows;
- ``nesting``: selection sets nested, counting fragment spreads and inline fragments, which the
  recursive parts of validation and execution follow (``MIKO_API_MAX_NESTING``);
- ``aliases``: aliased fields (``MIKO_API_MAX_ALIASES``);
- ``fields``: field selections (``MIKO_API_MAX_FIELDS``), and ``repeats``, the most times one
  response name is selected in one selection set once its fragments are merged into it
  (``{ a ...{ a } ...F }`` with ``F`` selecting ``a`` is 3; graphql-core's overlap check is
  quadratic in it: ``MAX_REPEATS``);
- ``cost``: over every field, the product of the ``first``/``k`` arguments (their coerced values:
  literal, variable, variable default or field default) along its path, summed: an estimate of
  the nodes the answer can hold (``MIKO_API_MAX_COST``). A list of objects without such an
  argument (a post's intentions, its key information) counts as ``LIST_FANOUT`` items; a
  connection's ``edges`` are sized by its ``first``. A search whose text the server embeds
  (``EMBEDDED_TEXT_FIELDS``) adds ``EMBED_COST``, the CPU of one embedding, and one filtered by
  key information (an exact scan) ``KEY_INFO_SCAN_COST`` more;
- ``introspection``: the same cost for the introspection parts (``__schema``, ``__type`` and
  fragments on their types), with each of introspection's lists (``types``, ``fields``,
  ``args``, ...) counted at its mean length in this schema, so that nested or repeated
  introspection costs what it returns; it has its own limit (``MAX_INTROSPECTION_COST``, room
  for GraphiQL's introspection query) and adds no depth, as in graphql-depth-limit; and
  ``roots``, the introspection root fields (``MAX_INTROSPECTION_ROOTS``: GraphiQL asks one).

Values are capped at ``CEILING`` so that a bomb's measure stays a small integer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution.values import VariableValues, get_argument_values

SIZE_ARGUMENTS = ("first", "k")
CEILING = 10**15
EMBEDDED_TEXT_FIELDS = frozenset({"searchPosts", "searchIntentions"})  # root fields of Query
EMBED_COST = 200
# A search filtered by key information scores up to MIKO_API_KEY_INFO_SCAN_MAX nodes exactly
# (50,000 cosines: ~25x an embedding's CPU).
KEY_INFO_ARGUMENTS = ("concept", "action", "object", "emotion", "keyword")
KEY_INFO_SCAN_COST = 5_000
MAX_REPEATS = 10
MAX_INTROSPECTION_ROOTS = 3
LIST_FANOUT = 10  # a list of objects without `first`/`k` (a post's intentions) counts as 10
MAX_FRAGMENTS = 50
MAX_INTROSPECTION_COST = 50_000
META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef,
               "__typename": TypeNameMetaFieldDef}


@dataclass
class Shape:
    """The measures of a selection set (see the module's docstring)."""

    depth: int = 0
    nesting: int = 0
    aliases: int = 0
    fields: int = 0
    cost: int = 0
    introspection: int = 0  # the cost of the introspection parts
    roots: int = 0  # introspection root fields (__schema, __type)
    repeats: int = 0  # the most times one response name is selected in one selection set
    names: Counter[str] = field(default_factory=Counter)  # a fragment's own response names

    def add(self, other: Shape, *, multiplier: int = 1, field_level: bool = False) -> None:
        """Fold in a nested selection: a field's (``field_level``) or a fragment's."""
        self.depth = max(self.depth, other.depth + (1 if field_level else 0))
        self.nesting = max(self.nesting, other.nesting + 1)
        self.aliases = min(CEILING, self.aliases + other.aliases)
        self.fields = min(CEILING, self.fields + other.fields)
        self.cost = min(CEILING, self.cost + multiplier * other.cost)
        self.introspection = min(CEILING, self.introspection + multiplier * other.introspection)
        self.roots = min(CEILING, self.roots + other.roots)
        self.repeats = max(self.repeats, other.repeats)


def introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The mean length of each introspection list in ``schema`` (at least 1), by (type, field)."""
    cached: dict[tuple[str, str], int] | None = getattr(schema, "_miko_meta_sizes", None)
    if cached is not None:
        return cached
    types = list(schema.type_map.values())
    with_fields = [t for t in types if isinstance(getattr(t, "fields", None), dict)]
    fields = [f for t in with_fields for f in t.fields.values()]  # type: ignore[attr-defined]

    def mean(counts: list[int]) -> int:
        return max(1, round(sum(counts) / len(counts))) if counts else 1

    sizes = {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): mean([len(t.fields) for t in with_fields]),  # type: ignore[attr-defined]
        ("__Type", "inputFields"): mean([len(t.fields) for t in with_fields]),  # type: ignore[attr-defined]
        ("__Type", "enumValues"): mean([len(getattr(t, "values", {})) for t in types
                                        if getattr(t, "values", None)]),
        ("__Type", "interfaces"): mean([len(getattr(t, "interfaces", ())) for t in with_fields]),
        ("__Type", "possibleTypes"): mean([len(schema.get_possible_types(t))
                                           for t in types if is_abstract_type(t)]),
        ("__Field", "args"): mean([len(f.args) for f in fields if hasattr(f, "args")]),
        ("__Directive", "args"): mean([len(d.args) for d in schema.directives]),
    }
    schema._miko_meta_sizes = sizes  # type: ignore[attr-defined]  # the schema does not change
    return sizes


def _is_meta(parent: Any) -> bool:
    return str(getattr(parent, "name", "")).startswith("__")


class AnalysisError(Exception):
    """The document cannot be measured (an unknown or cyclic fragment): validation says why."""


def choose_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation a request runs, by the GraphQL spec's rules (GetOperation)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) == 1:
            return operations[0]
        if not operations:
            raise GraphQLError("the document has no operation")
        raise GraphQLError(f"the document has {len(operations)} operations: name the one to run "
                           "with `operationName`")
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    raise GraphQLError(f"the document has no operation named {operation_name!r}")


def _fragment_order(fragments: Mapping[str, FragmentDefinitionNode]) -> list[str]:
    """Fragments ordered so that each comes after every fragment it spreads (iteratively)."""
    spreads: dict[str, list[str]] = {}
    for name, fragment in fragments.items():
        found: list[str] = []
        stack: list[SelectionSetNode] = [fragment.selection_set]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FragmentSpreadNode):
                    found.append(selection.name.value)
                elif selection.selection_set is not None:  # type: ignore[attr-defined]
                    stack.append(selection.selection_set)  # type: ignore[attr-defined]
        spreads[name] = found
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for root in fragments:
        if state.get(root):
            continue
        path: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while path:
            name, index = path[-1]
            children = spreads[name]
            if index < len(children):
                path[-1] = (name, index + 1)
                child = children[index]
                if child not in fragments:
                    raise AnalysisError(f"unknown fragment {child!r}")
                if state.get(child) == 1:
                    raise AnalysisError(f"fragment {child!r} spreads itself")
                if not state.get(child):
                    state[child] = 1
                    path.append((child, 0))
            else:
                state[name] = 2
                order.append(name)
                path.pop()
    return order


@dataclass
class _Frame:
    selections: list[Any]
    parent: GraphQLNamedType | None
    multiplier: int = 1  # the size of the field that owns this selection set
    field_level: bool = False  # a field's selection set (True) or an inline fragment's
    index: int = 0
    shape: Shape = field(default_factory=Shape)
    names: Counter[str] = field(default_factory=Counter)


class Analyser:
    """Measures the operations of one document under one request's coerced variables."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: VariableValues | None, max_size: int | None = None) -> None:
        self.schema = schema
        self.variables = variables
        self.max_size = max_size
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self._meta_sizes = introspection_sizes(schema)
        self._measured: dict[str, Shape] = {}
        for name in _fragment_order(self.fragments):
            fragment = self.fragments[name]
            target = self.schema.get_type(fragment.type_condition.name.value)
            self._measured[name] = self._measure(fragment.selection_set, target)

    def operation(self, operation: OperationDefinitionNode) -> Shape:
        return self._measure(operation.selection_set,
                             self.schema.get_root_type(operation.operation))

    def _size(self, node: FieldNode, definition: GraphQLField, parent: Any) -> int:
        names = [n for n in SIZE_ARGUMENTS if n in definition.args]
        if not names:
            if getattr(parent, "name", "").startswith("__"):  # introspection's lists
                return self._meta_sizes.get((parent.name, node.name.value), 1)
            inner = definition.type.of_type if is_non_null_type(definition.type) else (
                definition.type)
            if is_list_type(inner) and not is_leaf_type(get_named_type(inner)) and (
                    node.name.value != "edges"):  # a connection's edges: sized by its `first`
                return LIST_FANOUT
            return 1
        try:
            values = get_argument_values(definition, node, self.variables)
        except GraphQLError:  # refused again, with its location, by execution
            values = {}
        value = values.get(names[0])
        if not isinstance(value, int) or isinstance(value, bool):
            value = definition.args[names[0]].default_value
        size = max(1, value) if isinstance(value, int) and not isinstance(value, bool) else 1
        return min(size, self.max_size) if self.max_size else min(size, CEILING)

    def _scan_cost(self, node: FieldNode, definition: GraphQLField) -> int:
        """A search with key information (an exact scan) costs ``KEY_INFO_SCAN_COST`` more."""
        try:
            values = get_argument_values(definition, node, self.variables)
        except GraphQLError:  # refused again, with its location, by execution
            return 0
        return KEY_INFO_SCAN_COST if any(values.get(n) is not None
                                         for n in KEY_INFO_ARGUMENTS) else 0

    def _measure(self, selection_set: SelectionSetNode,
                 parent: GraphQLNamedType | None) -> Shape:
        stack = [_Frame(list(selection_set.selections), parent)]
        while True:
            frame = stack[-1]
            if frame.index == len(frame.selections):
                stack.pop()
                if not stack:
                    frame.shape.names = frame.names
                    return frame.shape
                stack[-1].shape.add(frame.shape, multiplier=frame.multiplier,
                                    field_level=frame.field_level and not _is_meta(frame.parent))
                continue
            selection = frame.selections[frame.index]
            frame.index += 1
            if isinstance(selection, FieldNode):
                fields: dict[str, GraphQLField] = getattr(frame.parent, "fields", None) or {}
                name = selection.name.value
                definition = fields.get(name) or META_FIELDS.get(name)
                size = (self._size(selection, definition, frame.parent)
                        if definition is not None else 1)
                shape = frame.shape
                response = selection.alias.value if selection.alias else name
                frame.names[response] += 1
                shape.repeats = max(shape.repeats, frame.names[response])
                shape.aliases = min(CEILING, shape.aliases + (1 if selection.alias else 0))
                shape.fields = min(CEILING, shape.fields + 1)
                if name in ("__schema", "__type"):
                    shape.roots += 1
                if _is_meta(frame.parent) or name in ("__schema", "__type"):
                    shape.introspection = min(CEILING, shape.introspection + size)
                else:  # introspection adds no depth, as in graphql-depth-limit
                    extra = (EMBED_COST + self._scan_cost(selection, definition)
                             if name in EMBEDDED_TEXT_FIELDS and definition is not None else 0)
                    shape.cost = min(CEILING, shape.cost + size + extra)
                    shape.depth = max(shape.depth, 1)
                if selection.selection_set is None:
                    shape.nesting = max(shape.nesting, 1)
                else:
                    child = get_named_type(definition.type) if definition is not None else None
                    stack.append(_Frame(list(selection.selection_set.selections), child,
                                        multiplier=size, field_level=True))
            elif isinstance(selection, FragmentSpreadNode):
                measured = self._measured.get(selection.name.value)
                if measured is None:
                    raise AnalysisError(f"unknown fragment {selection.name.value!r}")
                frame.shape.add(measured, multiplier=1, field_level=False)
                for response, count in measured.names.items():  # merged with this set's
                    frame.names[response] = min(CEILING, frame.names[response] + count)
                    frame.shape.repeats = max(frame.shape.repeats, frame.names[response])
            elif isinstance(selection, InlineFragmentNode):
                target = (self.schema.get_type(selection.type_condition.name.value)
                          if selection.type_condition else None) or frame.parent
                stack.append(_Frame(list(selection.selection_set.selections), target,
                                    field_level=False, names=frame.names))  # merged with ours


