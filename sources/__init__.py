"""Provider clients: one module per provider, each yielding raw responses.

Every client takes a ``requests.Session`` (see :mod:`sources.http`) so tests and demos
point it at a server on 127.0.0.1 and flows can swap in a rate-limited one.
"""
