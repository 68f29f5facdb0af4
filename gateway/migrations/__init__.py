"""The database schema's history as Alembic revisions (``versions/``), shipped in the package.

``gateway.db.upgrade`` (called by ``create_all``, by every start and by ``fieldcheck db upgrade``)
brings a database to the newest revision; ``fieldcheck db current`` says where one stands. See
``docs/OPERATIONS.md`` (Upgrading) for the operator's side and ``env.py`` for how it runs.

Writing a new revision (developers): change the models, then
``uv run alembic -c gateway/migrations/alembic.ini revision --autogenerate -m "what and why"``
against a database at the current head (``-x url=sqlite:///path``), read and correct what it
wrote, and never edit a revision that has shipped. Revisions import nothing from the gateway's
models: they describe the schema as it was when they were written.
"""
