"""Limits checked before a GraphQL operation runs, and admission by its cost.

Validation (``make_validation``), once per distinct document (the document cache skips it for
known ones): the document's depth, nesting and aliases with its fragments expanded, measured
without expanding them (``analysis``), then graphql-core's own rules, with introspection and
field suggestions as the settings say. Then, for every request, ``make_query_limits``:

1. picks the operation by the spec's rules (several operations need an ``operationName``);
2. coerces the variables with graphql-core (a string for an ``Int!``, a float for an ``Int``, a
   missing required variable: each a BAD_USER_INPUT error, never a server error);
3. refuses a string argument or variable over the length limit, and measures the operation's
   cost with those coerced values (``analysis``: each fragment once, iterative): over the limit,
   it is refused;
4. admits it by cost (``admission.CostBudget``): a query of cost over a tenth of
   ``MIKO_API_MAX_COST`` waits, briefly, for the running queries' total cost to leave room, and
   is refused with 503 when it does not; cheaper ones never wait here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    StringValueNode,
    get_variable_values,
    validate,
    visit,
)
from graphql.execution import ExecutionResult
from graphql.execution.values import VariableValues
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from kg_api.admission import CostBudget
from kg_api.analysis import (
    MAX_FRAGMENTS,
    MAX_INTROSPECTION_COST,
    MAX_INTROSPECTION_ROOTS,
    MAX_REPEATS,
    Analyser,
    AnalysisError,
    Shape,
    choose_operation,
)
from kg_api.errors import BadInputError, GraphUnavailableError, QueryTooCostlyError
from kg_builder.core.settings import Settings

MAX_VARIABLE_ERRORS = 10


def _long_strings(document: Any, limit: int) -> list[int]:
    found: list[int] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if len(node.value) > limit:
                found.append(len(node.value))

    visit(document, Strings())
    return found


def _long_variables(value: Any, limit: int) -> list[int]:
    """Lengths of the strings over ``limit`` anywhere in ``value`` (iterative: any nesting)."""
    found: list[int] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                found.append(len(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _coded(message: str, code: str, error: Exception | None = None) -> GraphQLError:
    return GraphQLError(message, original_error=error, extensions={"code": code})


def _shape_problems(shape: Shape, settings: Settings) -> list[str]:
    problems = []
    if shape.depth - 1 > settings.api_max_depth:
        problems.append(f"the query is {shape.depth - 1:,} fields deep; the limit is "
                        f"{settings.api_max_depth} (MIKO_API_MAX_DEPTH)")
    if shape.nesting > settings.api_max_nesting:
        problems.append(f"the query nests {shape.nesting:,} selection sets (fragments counted); "
                        f"the limit is {settings.api_max_nesting} (MIKO_API_MAX_NESTING)")
    if shape.aliases > settings.api_max_aliases:
        problems.append(f"the query has {shape.aliases:,} aliases once its fragments are "
                        f"expanded; the limit is {settings.api_max_aliases} (MIKO_API_MAX_ALIASES)")
    if shape.fields > settings.api_max_fields:
        problems.append(f"the query selects {shape.fields:,} fields once its fragments are "
                        f"expanded; the limit is {settings.api_max_fields} (MIKO_API_MAX_FIELDS)")
    if shape.repeats > MAX_REPEATS:
        problems.append(f"the query selects the same field {shape.repeats:,} times in one "
                        f"selection set; the limit is {MAX_REPEATS}")
    if shape.roots > MAX_INTROSPECTION_ROOTS:
        problems.append(f"the query asks for the schema {shape.roots:,} times (__schema, "
                        f"__type); the limit is {MAX_INTROSPECTION_ROOTS}")
    if shape.introspection > MAX_INTROSPECTION_COST:
        problems.append(f"the query's introspection costs {shape.introspection:,} (its lists "
                        f"counted at their mean length); the limit is {MAX_INTROSPECTION_COST:,}: "
                        "ask for the schema once, without nesting its lists")
    return problems


def make_validation(settings: Settings) -> type[SchemaExtension]:
    """The document's shape (depth, nesting, aliases: each fragment measured once), then
    graphql-core's validation with the introspection and suggestion settings applied.

    The shape comes first so that graphql-core's recursive rules never meet a document nested
    past the limit; a document whose fragments are unknown or cyclic is left to validation,
    which says so with locations."""
    hide = not settings.api_suggestions
    introspection = settings.api_introspection

    class Validation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            document = ctx.graphql_document
            if ctx.pre_execution_errors is None and document is not None:
                schema = ctx.schema._schema
                problems: list[str] = []
                fragments = sum(isinstance(d, FragmentDefinitionNode)
                                for d in document.definitions)
                if fragments > MAX_FRAGMENTS:
                    problems.append(f"the document defines {fragments:,} fragments; the limit is "
                                    f"{MAX_FRAGMENTS}")
                try:
                    analyser = Analyser(schema, document, None)
                    for operation in document.definitions:
                        if isinstance(operation, OperationDefinitionNode):
                            problems += _shape_problems(analyser.operation(operation), settings)
                except AnalysisError:
                    pass
                if problems:
                    ctx.pre_execution_errors = [_coded("; ".join(dict.fromkeys(problems)),
                                                       "GRAPHQL_VALIDATION_FAILED")]
                else:
                    rules = list(ctx.validation_rules)
                    if not introspection:
                        rules.append(NoSchemaIntrospectionCustomRule)
                    ctx.pre_execution_errors = validate(schema, document, rules,
                                                        hide_suggestions=hide)
            yield

    return Validation


def make_query_limits(settings: Settings, budget: CostBudget) -> type[SchemaExtension]:
    """A schema extension: steps 1-4 of the module's docstring, before execution."""
    max_cost, max_string = settings.api_max_cost, settings.api_max_string_chars
    max_size = settings.api_max_k
    hide = not settings.api_suggestions

    def refusal(ctx: Any) -> tuple[list[GraphQLError], int]:
        """The errors that refuse the request (or none), and its cost."""
        document = ctx.graphql_document
        provided = getattr(ctx, "_provided_operation_name", ctx.operation_name)
        try:
            operation = choose_operation(document, provided)
        except GraphQLError as exc:
            return [_coded(exc.message, "BAD_REQUEST")], 0
        longest = max([*_long_strings(document, max_string),
                       *_long_variables(ctx.variables or {}, max_string)], default=0)
        if longest:
            error: Exception = BadInputError(f"a string argument is {longest:,} characters long; "
                                  f"the limit is {max_string:,} (MIKO_API_MAX_STRING_CHARS)")
            return [_coded(str(error), "BAD_USER_INPUT", error)], 0
        coerced = get_variable_values(ctx.schema._schema, operation.variable_definitions or (),
                                      ctx.variables or {}, max_errors=MAX_VARIABLE_ERRORS,
                                      hide_suggestions=hide)
        if not isinstance(coerced, VariableValues):
            return [_coded(e.message, "BAD_USER_INPUT") for e in coerced], 0
        try:
            shape = Analyser(ctx.schema._schema, document, coerced, max_size).operation(operation)
        except AnalysisError as exc:  # validation refuses these first; kept as a safeguard
            return [_coded(str(exc), "GRAPHQL_VALIDATION_FAILED")], 0
        if shape.cost > max_cost:
            error = QueryTooCostlyError(
                f"the query's cost is {shape.cost:,} (the product of `first`/`k` along each "
                f"path, summed, fragments expanded), over the limit of {max_cost:,} "
                "(MIKO_API_MAX_COST): ask for fewer items per level or fewer nested levels")
            return [_coded(str(error), "QUERY_TOO_COSTLY", error)], 0
        return [], shape.cost

    class QueryLimits(SchemaExtension):
        async def on_execute(self) -> AsyncIterator[None]:
            ctx = self.execution_context
            errors, cost = refusal(ctx) if ctx.graphql_document is not None else ([], 0)
            if errors:
                ctx.result = ExecutionResult(data=None, errors=errors)
                yield
                return
            weight = cost if cost > max_cost // 10 else 0
            if not await budget.acquire(weight):
                error = GraphUnavailableError(
                    f"the server is busy with costly queries (this one costs {cost:,}); retry "
                    "in a second, or ask for fewer items")
                ctx.result = ExecutionResult(data=None, errors=[
                    _coded(str(error), error.code, error)])
                yield
                return
            try:
                yield
            finally:
                budget.release(weight)

    return QueryLimits
