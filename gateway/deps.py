"""Dependency aliases for routes: the runtime, a database session, the calling principal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from gateway.auth.models import Role
from gateway.auth.service import Principal, authenticate
from gateway.errors import Forbidden, Unauthenticated
from gateway.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# Declares the scheme in OpenAPI (Swagger's Authorize button); the header is parsed below so a
# missing or malformed one gets our problem+json 401, not FastAPI's default 403.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="FieldCheck API token (fc_...): devices, NCB staff and scripts",
)


def get_principal(
    request: Request, runtime: RuntimeDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(
            "this endpoint needs a bearer token", field="Authorization",
            fix="send 'Authorization: Bearer <token>'; an NCB admin issues tokens",
        )
    # A short session of its own: the token lookup must not hold the request's session open.
    with Session(runtime.engine) as session:
        principal = authenticate(session, secret.strip())
    if principal is None:
        raise Unauthenticated(
            "the bearer token is unknown or revoked", field="Authorization",
            fix="ask an NCB admin for a valid token",
        )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def ensure_role(principal: Principal, *roles: Role | str) -> Principal:
    """``principal`` if it holds one of ``roles``, else 403 (the API's and the console's rule)."""
    allowed = {Role(r) for r in roles}
    if principal.role not in allowed:
        raise Forbidden(
            f"role '{principal.role.value}' may not do this; needs "
            + " or ".join(sorted(r.value for r in allowed)),
            field="Authorization",
        )
    return principal


def require_role(*roles: Role | str) -> Callable[..., Principal]:
    """Dependency: the caller must hold one of ``roles`` (403 otherwise)."""

    def _check(principal: PrincipalDep) -> Principal:
        return ensure_role(principal, *roles)

    return _check


# Who may do what: the API's dependencies below and the console's pages use these same sets.
ADMIN_ROLES = (Role.ncb_admin,)
ANALYST_ROLES = (Role.ncb_analyst, Role.ncb_admin)
AUDITOR_ROLES = (Role.auditor, Role.ncb_admin)
STATUS_READER_ROLES = (Role.ncb_admin, Role.ncb_analyst, Role.auditor)

AdminDep = Annotated[Principal, Depends(require_role(*ADMIN_ROLES))]
DeviceDep = Annotated[Principal, Depends(require_role(Role.device))]
AnalystDep = Annotated[Principal, Depends(require_role(*ANALYST_ROLES))]
AuditorDep = Annotated[Principal, Depends(require_role(*AUDITOR_ROLES))]
