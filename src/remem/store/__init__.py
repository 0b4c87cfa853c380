"""Storage behind one seam (``protocol``): the SQLite store (``sqlite``, the default) and
the PostgreSQL store (``postgres``). Backends are imported from their packages, so
importing this package loads neither."""
