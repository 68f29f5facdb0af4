"""Console handlers that are ``async def`` (they await the form or an upload) must not touch the
database on the event loop: a write may wait up to FIELDCHECK_DATABASE_WRITE_WAIT_S for
SQLite's write turn, freezing every request of the gateway meanwhile (issue 20). Found in
review: the subject create/edit forms and the console import wrote on the loop.

Checked on the source: inside an ``async def`` of gateway/console, ``.session`` may appear only
in the arguments of a ``run_in_threadpool`` call (or in a lambda/def handed to it)."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway.console

CONSOLE = Path(gateway.console.__file__).parent


def _session_uses_on_the_loop(func: ast.AsyncFunctionDef) -> list[int]:
    offloaded: set[int] = set()
    for node in ast.walk(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "run_in_threadpool"):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                offloaded.update(id(n) for n in ast.walk(arg))
    return [node.lineno for node in ast.walk(func)
            if isinstance(node, ast.Attribute) and node.attr == "session"
            and id(node) not in offloaded]


def test_no_async_console_handler_uses_the_database_on_the_event_loop() -> None:
    found = []
    for path in sorted(CONSOLE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)):
            found += [f"{path.name}:{line} in {func.name}"
                      for line in _session_uses_on_the_loop(func)]
    assert not found, "database used on the event loop:\n" + "\n".join(found)
