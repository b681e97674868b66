// The peer of the API benchmark: @neo4j/graphql (Neo4j's GraphQL library) on Apollo Server,
// over the same database miko serves. Only what the benchmark's query needs is declared:
// posts with their intentions through each of the ten relationship types.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { Neo4jGraphQL } from "@neo4j/graphql";
import neo4j from "neo4j-driver";

const RELATIONS = ["X_NEED", "X_INTENT", "X_ATTR", "X_EFFECT", "X_REACT", "X_WANT",
  "O_EFFECT", "O_REACT", "O_WANT", "OPEN"];
const field = (t) => t.toLowerCase().replace(/_(.)/g, (_, c) => c.toUpperCase());

const typeDefs = `
  type Intention @node {
    id: ID!
    relation: String!
    text: String!
    tail: String!
  }
  type Post @node {
    id: ID!
    text: String!
    source: String
${RELATIONS.map((t) => `    ${field(t)}: [Intention!]! @relationship(type: "${t}", direction: OUT)`).join("\n")}
  }
`;

const uri = process.env.NEO4J_URI ?? "bolt://127.0.0.1:7687";
const driver = neo4j.driver(uri, neo4j.auth.basic(process.env.NEO4J_USER ?? "neo4j",
  process.env.NEO4J_PASSWORD ?? "miko-local-dev"));
const neoSchema = new Neo4jGraphQL({ typeDefs, driver });
const server = new ApolloServer({ schema: await neoSchema.getSchema() });
const port = Number(process.env.PORT ?? 4000);
const { url } = await startStandaloneServer(server, { listen: { port, host: "127.0.0.1" } });
console.log(`peer @neo4j/graphql ready at ${url}`);
