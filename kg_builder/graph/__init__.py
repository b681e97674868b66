"""Neo4j: drivers, the schema, the managed server, every Cypher statement and the typed rows."""
