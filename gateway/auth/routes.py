"""Token routes (NCB admins): issue, list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit.service import record
from gateway.auth import service
from gateway.auth.models import ApiToken, Role
from gateway.deps import AdminDep, SessionDep

router = APIRouter(prefix="/v1/tokens", tags=["auth"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="device, ncb_admin, ncb_analyst or auditor")
    name: str = Field(min_length=1, max_length=200, description="e.g. the device serial")


class TokenPublic(BaseModel):
    id: str
    name: str
    role: Role
    created_at: str
    revoked_at: str | None


class TokenIssued(TokenPublic):
    token: str = Field(description="the bearer secret: shown this once, stored only hashed")


def _public(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "role": row.role,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


@router.post("", status_code=201, summary="Issue a token (the secret is shown once)",
             response_model=TokenIssued)
def create_token(body: TokenCreate, session: SessionDep, actor: AdminDep) -> dict[str, Any]:
    row, secret = service.create_token(
        session, role=body.role, name=body.name, created_by=actor.token_id
    )
    record(session, actor=actor, action="token.create", target_type="token", target_id=row.id,
           after={"role": row.role, "name": row.name})
    session.commit()
    return {**_public(row), "token": secret}


@router.get("", summary="List tokens (never their secrets)", response_model=list[TokenPublic])
def list_tokens(session: SessionDep, actor: AdminDep) -> list[dict[str, Any]]:
    return [_public(r) for r in service.list_tokens(session)]


@router.delete("/{token_id}", summary="Revoke a token; it fails at once",
               response_model=TokenPublic)
def revoke_token(token_id: str, session: SessionDep, actor: AdminDep) -> dict[str, Any]:
    row = service.revoke_token(session, token_id)
    record(session, actor=actor, action="token.revoke", target_type="token", target_id=token_id)
    session.commit()
    return _public(row)
