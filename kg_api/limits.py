"""Limits checked before a GraphQL operation runs: string sizes and the query's cost.

The cost of a query is, over every field it selects, the product of the ``first``/``k``
arguments (given, or their defaults) along the field's path, summed: an estimate of the nodes
the answer can hold. ``posts(first: 100) { similarPosts(k: 100) { post { similarPosts(k: 100)
{ post { id } } } } }`` costs over a million and is refused at once instead of holding the
server. Fragments are followed; a cyclic one is already refused by validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    visit,
)
from graphql.execution import ExecutionResult
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from kg_api.errors import BadInputError, QueryTooCostlyError

SIZE_ARGUMENTS = ("first", "k")


def _long_strings(document: DocumentNode, limit: int) -> Iterator[int]:
    found: list[int] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if len(node.value) > limit:
                found.append(len(node.value))

    visit(document, Strings())
    yield from found


def _long_variables(value: Any, limit: int) -> Iterator[int]:
    if isinstance(value, str):
        if len(value) > limit:
            yield len(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _long_variables(item, limit)
    elif isinstance(value, list):
        for item in value:
            yield from _long_variables(item, limit)


def query_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
               variables: Mapping[str, Any] | None, max_size: int | None = None) -> int:
    """The cost of the operation to run (see the module's docstring).

    A size over ``max_size`` counts as ``max_size``: the field refuses it anyway, with a message
    that names the argument.
    """
    variables = variables or {}
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or
              (o.name is not None and o.name.value == operation_name)]
    if not chosen:
        return 0
    operation = chosen[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0

    def size(field: FieldNode, definition: GraphQLField) -> int:
        value = _given_size(field, definition)
        return min(value, max_size) if max_size else value

    def _given_size(field: FieldNode, definition: GraphQLField) -> int:
        given = {a.name.value: a.value for a in field.arguments or ()}
        for name in SIZE_ARGUMENTS:
            if name not in definition.args:
                continue
            node = given.get(name)
            if isinstance(node, IntValueNode):
                return max(1, int(node.value))
            if isinstance(node, VariableNode) and isinstance(variables.get(node.name.value), int):
                return max(1, int(variables[node.name.value]))
            default = definition.args[name].default_value
            return max(1, default) if isinstance(default, int) else 1
        return 1

    def walk(selection_set: SelectionSetNode, parent: GraphQLNamedType, multiplier: int,
             seen: frozenset[str]) -> int:
        fields: dict[str, GraphQLField] = getattr(parent, "fields", None) or {}
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = fields.get(selection.name.value)
                if definition is None:  # __typename and the like
                    total += multiplier
                    continue
                here = multiplier * size(selection, definition)
                total += here
                if selection.selection_set is not None:
                    total += walk(selection.selection_set, get_named_type(definition.type), here,
                                  seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    target = schema.get_type(fragment.type_condition.name.value) or parent
                    total += walk(fragment.selection_set, target, multiplier, seen | {name})
            elif isinstance(selection, InlineFragmentNode):
                target = (schema.get_type(selection.type_condition.name.value)
                          if selection.type_condition else None) or parent
                total += walk(selection.selection_set, target, multiplier, seen)
        return total

    return walk(operation.selection_set, root, 1, frozenset())


def make_query_limits(max_cost: int, max_string: int, max_size: int) -> type[SchemaExtension]:
    """A schema extension that refuses, before execution, long strings and costly queries."""

    class QueryLimits(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            ctx = self.execution_context
            document = ctx.graphql_document
            error: Exception | None = None
            if document is not None:
                longest = max([*_long_strings(document, max_string),
                               *_long_variables(ctx.variables or {}, max_string)], default=0)
                if longest:
                    error = BadInputError(f"a string argument is {longest:,} characters long; "
                                          f"the limit is {max_string:,}")
                else:
                    cost = query_cost(ctx.schema._schema, document, ctx.operation_name,
                                      ctx.variables, max_size)
                    if cost > max_cost:
                        error = QueryTooCostlyError(
                            f"the query's cost is {cost:,} (the product of `first`/`k` along "
                            f"each path, summed), over the limit of {max_cost:,}: ask for "
                            "fewer items per level or fewer nested levels")
            if error is not None:
                ctx.result = ExecutionResult(data=None, errors=[
                    GraphQLError(str(error), original_error=error)])
            yield

    return QueryLimits
