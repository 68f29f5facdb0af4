"""Facts about the deployment that every gateway sharing this database must agree on."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class DeploymentSetting(SQLModel, table=True):
    __tablename__ = "deployment_setting"

    key: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=200)
