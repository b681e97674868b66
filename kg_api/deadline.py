"""The request's deadline, enforced between fields so that CPU-bound execution stops too.

``TimeLimit`` (middleware) sets the deadline of each request; ``asyncio.wait_for`` alone cannot
interrupt a request that never yields to the event loop (resolving and completing thousands of
fields), so ``DeadlineExecutionContext`` checks it before each field: once it has passed, every
remaining field fails at once with ``RequestTimeoutError`` and the answer is a 504 in the one
error shape.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Any

from graphql import GraphQLError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from kg_api.errors import RequestTimeoutError

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("miko_deadline", default=None)


def start(seconds: float) -> Token[tuple[float, float] | None]:
    """Set this request's deadline ``seconds`` from now (for the current context and its tasks)."""
    return _DEADLINE.set((time.monotonic() + seconds, seconds))


def reset(token: Token[tuple[float, float] | None]) -> None:
    _DEADLINE.reset(token)


class DeadlineExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution, with the deadline checked before each field is executed.

    Past the deadline the field raises a ``GraphQLError`` (the executor locates it at the field
    or its parent; ``RequestTimeoutError`` is its original error), so nothing below it runs.
    """

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        self.check_deadline()
        return super().execute_field(*args, **kwargs)

    @staticmethod
    def check_deadline() -> None:
        deadline = _DEADLINE.get()
        if deadline is not None and time.monotonic() > deadline[0]:
            message = f"the request ran past the time limit of {deadline[1]:g}s"
            raise GraphQLError(message, original_error=RequestTimeoutError(message))
