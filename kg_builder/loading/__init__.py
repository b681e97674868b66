"""Loading: the online loader, the bulk path, re-embedding, stats and the load service (the
readers are in ``kg_builder.inputs``)."""
