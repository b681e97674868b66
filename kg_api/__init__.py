"""miko-kg GraphQL API over the intention graph."""
