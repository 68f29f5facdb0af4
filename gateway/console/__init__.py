"""The NCB console: server-rendered pages at ``/console`` for staff accounts.

Every page calls the same service functions (and the same role sets, ``gateway.deps``) as the
API; this package adds only staff sign-in (``auth``), page rendering and the per-device language.
"""
