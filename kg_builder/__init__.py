"""miko-kg's foundation, in layers that import only downhill:

- ``core``: relations and key-information kinds (the allow-lists), records, settings, errors,
  packaged resources;
- ``graph``: Neo4j drivers, the schema, the managed server, all Cypher (``graph.queries``) and
  the typed rows of its reads;
- ``embeddings``: the embedders and their factories;
- ``generation``: the LLM client, prompt templates, the three stages and the pipeline;
- ``loading``: readers, the loader, re-embedding, stats and the load service.

``kg_api`` stands on core, graph and embeddings only.
"""

from kg_builder.core.errors import KGBuilderError

__all__ = ["KGBuilderError"]
__version__ = "0.1.0"
