"""miko-kg builder: readers, embeddings, Neo4j schema and loader for MIKO intention graphs."""

from kg_builder.core.errors import KGBuilderError

__all__ = ["KGBuilderError"]
__version__ = "0.1.0"
