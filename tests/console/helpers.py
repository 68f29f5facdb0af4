"""Console test helpers: staff accounts and a signed-in HTTP client."""

from __future__ import annotations

import re

import httpx
from sqlmodel import Session

from gateway.console.auth import create_user

PASSWORD = "correct horse battery staple"


def make_user(gateway, username: str, role: str = "ncb_admin", language: str = "en") -> str:  # type: ignore[no-untyped-def]
    with Session(gateway.runtime.engine) as session:
        user = create_user(session, username=username, password=PASSWORD, role=role,
                           language=language)
        session.commit()
        return user.id


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(gateway, username: str, password: str = PASSWORD) -> httpx.Client:  # type: ignore[no-untyped-def]
    client = httpx.Client(base_url=gateway.url, timeout=60)
    form = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": password,
                                            "csrf": csrf_of(form.text), "next": "/console/"})
    assert r.status_code == 303, r.text
    return client
