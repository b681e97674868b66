"""miko-kg's GraphQL API over the intention graph, one concern a module:

``app`` (Starlette app, lifespan, health), ``workers`` (``run_server``: one process or an
acceptor handing connections to worker processes), ``middleware`` (time limit),
``context`` (per-request state, typed dataloaders), ``inputs`` (cursors, filters, argument
checks), ``types`` (GraphQL types, one generic connection), ``query`` (the root query),
``schema`` (assembly and limits), ``errors`` (the one error shape), ``repository`` (typed
reads) and ``embedding`` (the cached query embedder).
"""
