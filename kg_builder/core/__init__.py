"""The ground every other layer stands on: allow-lists, records, settings, errors, resources."""
