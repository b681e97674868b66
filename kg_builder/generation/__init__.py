"""Generation: the LLM client, prompt templates, the three MIKO stages, the pipeline and its wiring."""
