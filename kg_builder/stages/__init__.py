"""The three MIKO generation stages, one module each: image description, key information,
intentions. Each is a class with one ``async run(input) -> output`` on pydantic models; the
LLM client and the stage cache are passed in."""
