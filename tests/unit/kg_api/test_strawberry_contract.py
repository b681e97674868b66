"""The one place that fails when a strawberry upgrade moves what the API builds on: every
framework method the API overrides still exists on its base with the same parameters and the
same async-ness, and the framework types the API constructs or reads keep their fields."""

from __future__ import annotations

import dataclasses
import inspect

import strawberry.asgi
from strawberry.http import GraphQLRequestData
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from kg_api.app import MikoGraphQL
from kg_api.deadline import DeadlineExecutionContext

OVERRIDDEN = {
    MikoGraphQL: (strawberry.asgi.GraphQL, {"get_sub_response", "parse_http_body", "encode_json",
                                            "create_response", "render_graphql_ide",
                                            "get_context"}),
    DeadlineExecutionContext: (StrawberryGraphQLCoreExecutionContext, {"execute_field"}),
}


def test_every_overridden_hook_still_exists_as_we_override_it() -> None:
    for ours, (base, hooks) in OVERRIDDEN.items():
        overridden = {name for name, v in vars(ours).items()
                      if callable(v) and not name.startswith("__")} - {"check_deadline"}
        assert overridden == hooks, f"{ours.__name__} overrides {sorted(overridden)}"
        for name in hooks:
            theirs, mine = getattr(base, name, None), getattr(ours, name)
            assert theirs is not None, f"{base.__name__}.{name} is gone"
            assert inspect.iscoroutinefunction(theirs) == inspect.iscoroutinefunction(mine), name
            if name != "execute_field":  # ours passes *args, **kwargs through
                assert (list(inspect.signature(theirs).parameters)
                        == list(inspect.signature(mine).parameters)), name


def test_the_framework_types_we_build_and_read_keep_their_fields() -> None:
    fields = {f.name for f in dataclasses.fields(GraphQLRequestData)}
    assert {"query", "variables", "operation_name", "extensions"} <= fields
    assert {"name", "selections", "arguments"} <= {f.name for f in dataclasses.fields(SelectedField)}
    assert hasattr(Info, "selected_fields")
    assert hasattr(StrawberryGraphQLCoreExecutionContext, "execute_field")
