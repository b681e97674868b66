// miko-kg graph schema for Neo4j 5.26. Applied idempotently by `miko db init`.
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

// Cosine vector indexes. One over all intentions, and one per relation label so that a
// relation-scoped search returns k hits of that relation (not a post-filtered remainder).
CREATE VECTOR INDEX post_embedding IF NOT EXISTS FOR (n:Post) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding IF NOT EXISTS FOR (n:Intention) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xneed IF NOT EXISTS FOR (n:XNeed) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xintent IF NOT EXISTS FOR (n:XIntent) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xattr IF NOT EXISTS FOR (n:XAttr) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xeffect IF NOT EXISTS FOR (n:XEffect) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xreact IF NOT EXISTS FOR (n:XReact) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_xwant IF NOT EXISTS FOR (n:XWant) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_oeffect IF NOT EXISTS FOR (n:OEffect) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_oreact IF NOT EXISTS FOR (n:OReact) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_owant IF NOT EXISTS FOR (n:OWant) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
CREATE VECTOR INDEX intention_embedding_open IF NOT EXISTS FOR (n:Open) ON (n.embedding)
  OPTIONS {indexConfig: {`vector.dimensions`: $dimension, `vector.similarity_function`: 'cosine',
    `vector.hnsw.m`: $hnsw_m, `vector.hnsw.ef_construction`: $hnsw_ef_construction}};
