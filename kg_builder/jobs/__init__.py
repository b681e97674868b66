"""The jobs: what one command does from end to end, composed of the features below it.

A job holds the policy that joins two features (the critic's scoring after a load, the engine
and the student of a build, a build's vectors handed to its load, ``miko up``'s steps), so that
the CLI only parses, calls a job or a service, and prints what it returns.
"""
