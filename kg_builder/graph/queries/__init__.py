"""The one home of miko's Cypher (besides the schema DDL in ``schema/neo4j.cypher``).

Small functions that return parameterised statements, split by what they do:

- ``write``: everything that changes the graph's content (loading, pruning, re-embedding);
- ``read``: everything that reads it (the API's queries, the loader's existence checks);
- ``admin``: schema, indexes, the embedding-model record, counts and server health.

Labels and relationship types are interpolated only from ``Relation`` and ``KeyInfoKind`` (our
allow-lists) and index names only from ``read.INTENTION_INDEX`` / ``read.POST_INDEX`` (the
schema's); every value is a parameter.
A test fails when a Cypher statement appears in any other module.
"""
