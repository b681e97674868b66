"""GraphQL execution: the request's deadline, and a fast completion of plain objects.

graphql-core completes every field of every object through the same general machinery (resolve
info, resolver call, awaitable checks, null checks, leaf coercion): ~20 us a field in CPython.
A page of 50 posts with their intentions has ~1,600 fields, so that machinery, not the graph,
was most of the page query's time. Most of those fields are *plain*: an attribute of a row
object (no resolver, no arguments, no extensions) with a scalar, an enum or another plain object
as its type. ``MikoExecutionContext`` compiles, once per request and selection, a small plan
for objects whose selected fields are all plain, and completes such objects by reading the
attributes and coercing the leaves with the schema's own types, the same calls the general path
makes; a list of such objects is completed the same way, item by item. Anything else — a field
with a resolver or arguments, a list of objects inside a plain object, an abstract
type, a deferred fragment, a resolve middleware, an object type with ``is_type_of`` — takes the
general path; so does any object whose plan meets a null in a non-null field or a value its
leaf type refuses, so errors keep their exact message, path and location.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path

from kg_api.deadline import DeadlineExecutionContext

FALLBACK: Any = object()  # a plan's answer when the general path must complete the object
Plan = Callable[[Any], Any]  # source object -> completed dict, or FALLBACK


def _enum_names(leaf: GraphQLLeafType) -> dict[Any, str]:
    """For a strawberry enum: its Python members' GraphQL names (strawberry's own coercion
    scans every value of the enum for each one it completes)."""
    wrapped = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(wrapped, type) or not issubclass(
            wrapped, enum.Enum):
        return {}
    return {member: name for member in wrapped for name, value in leaf.values.items()
            if member.value == value.value}


def _leaf(leaf: GraphQLLeafType, nullable: bool) -> Plan:
    names = _enum_names(leaf)
    coerce = leaf.coerce_output_value

    def complete(value: Any) -> Any:
        if value is None:
            return None if nullable else FALLBACK
        if names:
            name = names.get(value)
            if name is not None:
                return name
        try:
            done = coerce(value)
        except Exception:  # the general path raises it, located at the field
            return FALLBACK
        return FALLBACK if done is None or done is Undefined else done

    return complete


def _leaf_list(leaf: GraphQLLeafType, nullable: bool, items_nullable: bool) -> Plan:
    item = _leaf(leaf, items_nullable)

    def complete(value: Any) -> Any:
        if value is None:
            return None if nullable else FALLBACK
        if not isinstance(value, (list, tuple)):
            return FALLBACK
        done = [item(v) for v in value]
        return FALLBACK if any(d is FALLBACK for d in done) else done

    return complete


def _nested(plan: Plan, nullable: bool) -> Plan:
    def complete(value: Any) -> Any:
        if value is None:
            return None if nullable else FALLBACK
        return plan(value)

    return complete


def _reader(field: GraphQLField, resolve: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The plain field's value from its source: strawberry's basic resolver reads the attribute
    with its ``default_resolver``; when that is ``getattr`` (strawberry's default), an
    ``attrgetter`` does the same in one C call."""
    definition = (field.extensions or {}).get("strawberry-definition")
    name = getattr(definition, "python_name", None)
    if getattr(definition, "default_resolver", None) is getattr and isinstance(name, str):
        return operator.attrgetter(name)
    return resolve


class MikoExecutionContext(DeadlineExecutionContext):
    """Deadline-checked execution with plain objects completed from a compiled plan."""

    plans_used = 0  # objects completed by a plan, over the process (read by tests)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, Plan | None]] = {}
        manager = self.middleware_manager
        self._plain_allowed = manager is None or not manager.middlewares

    def collect_and_execute_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList, path: Path,
        result: Any, position_context: Any,
    ) -> Any:
        plan = self._plan(return_type, field_details_list) if self._plain_allowed else None
        if plan is not None:
            self.check_deadline()
            done = plan(result)
            if done is not FALLBACK:
                MikoExecutionContext.plans_used += 1
                return done
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context)

    def complete_list_value(
        self, return_type: GraphQLList[GraphQLOutputType], field_details_list: FieldDetailsList,
        info: Any, path: Path, result: Any, position_context: Any,
    ) -> Any:
        """A list of plain objects completed item by item from their plan, without the general
        per-item machinery; any item the plan cannot complete sends the whole list there."""
        item = return_type.of_type
        inner = item.of_type if isinstance(item, GraphQLNonNull) else item
        if self._plain_allowed and isinstance(result, list) and isinstance(
                inner, GraphQLObjectType):
            plan = self._plan(inner, field_details_list)
            if plan is not None:
                self.check_deadline()
                nullable = not isinstance(item, GraphQLNonNull)
                done = [None if v is None and nullable else FALLBACK if v is None else plan(v)
                        for v in result]
                if not any(d is FALLBACK for d in done):
                    MikoExecutionContext.plans_used += len(done)
                    return done
        return super().complete_list_value(return_type, field_details_list, info, path, result,
                                           position_context)

    def _plan(self, return_type: GraphQLObjectType,
              field_details_list: FieldDetailsList) -> Plan | None:
        key = (return_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None:
            cached = (field_details_list, self._compile(return_type, field_details_list))
            self._plans[key] = cached  # the list kept alive so that its id is not reused
        return cached[1]

    def _compile(self, return_type: GraphQLObjectType,
                 field_details_list: FieldDetailsList) -> Plan | None:
        if return_type.is_type_of is not None:
            return None
        grouped, defers, _ = self.collect_subfields(return_type, field_details_list)
        if defers:
            return None
        steps: list[tuple[str, Callable[[Any], Any] | None, Plan | str]] = []
        for response_key, details in grouped.items():
            if any(d.defer_usage is not None or d.node.arguments for d in details):
                return None
            name = details[0].node.name.value
            if name == "__typename":
                steps.append((response_key, None, return_type.name))
                continue
            field = return_type.fields.get(name)
            resolve = field.resolve if field is not None else None
            if (field is None or field.args or resolve is None
                    or getattr(resolve, "__name__", "") != "_get_basic_result"
                    or not getattr(resolve, "_is_default", False)):
                return None  # a resolver of ours, or one strawberry wraps: general path
            complete = self._complete_plan(field.type, details)
            if complete is None:
                return None
            steps.append((response_key, _reader(field, resolve), complete))

        def run(source: Any) -> Any:
            out: dict[str, Any] = {}
            for response_key, resolve, complete in steps:
                if resolve is None:
                    out[response_key] = complete
                    continue
                done = complete(resolve(source))  # type: ignore[operator]
                if done is FALLBACK:
                    return FALLBACK
                out[response_key] = done
            return out

        return run

    def _complete_plan(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Plan | None:
        nullable = not is_non_null_type(type_)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if is_leaf_type(inner):
            return _leaf(inner, nullable)
        if is_list_type(inner):
            assert isinstance(inner, GraphQLList)
            item = inner.of_type
            item_inner = item.of_type if isinstance(item, GraphQLNonNull) else item
            if is_leaf_type(item_inner):
                return _leaf_list(item_inner, nullable, not is_non_null_type(item))
            return None  # lists of objects inside a plain object: the general path
        if is_object_type(inner):
            assert isinstance(inner, GraphQLObjectType)
            plan = self._plan(inner, details)
            return _nested(plan, nullable) if plan is not None else None
        return None
