"""The three MIKO generation stages, one module each: image description, key information,
intentions. Each is a ``Stage`` (see ``base``): one ``async run(input) -> output`` over pydantic
models, its template and placeholders declared and checked; the LLM client and the stage cache
are passed in."""
