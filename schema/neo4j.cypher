// miko-kg graph schema for Neo4j 2026.x (Cypher 25). Applied idempotently by `miko db init`.
// $dimension is the embedding dimension of the configured model (384 for all-MiniLM-L6-v2);
// $hnsw_m and $hnsw_ef_construction come from MIKO_VECTOR_HNSW_M / MIKO_VECTOR_HNSW_EF_CONSTRUCTION.
// Statements are separated by semicolons at the end of a line.

CREATE CONSTRAINT post_id IF NOT EXISTS FOR (n:Post) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT image_id IF NOT EXISTS FOR (n:Image) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT intention_id IF NOT EXISTS FOR (n:Intention) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT concept_name IF NOT EXISTS FOR (n:Concept) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT action_name IF NOT EXISTS FOR (n:Action) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT object_name IF NOT EXISTS FOR (n:Object) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT emotion_name IF NOT EXISTS FOR (n:Emotion) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT keyword_name IF NOT EXISTS FOR (n:Keyword) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT kgmeta_id IF NOT EXISTS FOR (n:KGMeta) REQUIRE n.id IS UNIQUE;

CREATE INDEX post_source IF NOT EXISTS FOR (n:Post) ON (n.source);
CREATE INDEX intention_relation IF NOT EXISTS FOR (n:Intention) ON (n.relation);
CREATE INDEX image_file IF NOT EXISTS FOR (n:Image) ON (n.file);

CREATE FULLTEXT INDEX post_text IF NOT EXISTS FOR (n:Post) ON EACH [n.text];
CREATE FULLTEXT INDEX intention_text IF NOT EXISTS FOR (n:Intention) ON EACH [n.text, n.tail];

// Cosine vector indexes, one per node kind, with the properties that searches filter on
// declared in the index (Cypher 25 `SEARCH ... WHERE`, Neo4j 2026.01+): a filtered search
// returns the k nearest among those that match, never a post-filtered remainder.
// $quantization is MIKO_VECTOR_QUANTIZATION (NONE, SCALAR or BINARY).
CYPHER 25 CREATE VECTOR INDEX post_embedding IF NOT EXISTS FOR (n:Post) ON n.embedding
  WITH [n.source, n.split, n.has_image]
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction,
    `vector.quantization.type`: $quantization}};
CYPHER 25 CREATE VECTOR INDEX intention_embedding IF NOT EXISTS FOR (n:Intention) ON n.embedding
  WITH [n.relation, n.typicality]
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction,
    `vector.quantization.type`: $quantization}};
