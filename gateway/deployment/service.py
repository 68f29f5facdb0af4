"""Binding a database to one country.

Sharing restrictions are decided per country, and tokens, checks, reviews and the audit trail are
not partitioned by country inside one database. Gateways may share a database (PostgreSQL) only
within one country's network; a gateway configured for another country refuses to start on it.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.deployment.models import DeploymentSetting


class CountryMismatch(RuntimeError):
    """This database already belongs to a gateway network of another country."""


def bind_country(session: Session, country: str) -> None:
    """Record ``country`` on first use; refuse a different one afterwards."""
    row = session.get(DeploymentSetting, "country")
    if row is None:
        session.add(DeploymentSetting(key="country", value=country))
        try:
            session.commit()
        except IntegrityError:  # another gateway bound it at the same moment
            session.rollback()
            row = session.get(DeploymentSetting, "country")
    if row is not None and row.value != country:
        raise CountryMismatch(
            f"this database belongs to the {row.value} gateway network but FIELDCHECK_COUNTRY is "
            f"{country}: gateways share a database only within one country (sharing "
            "restrictions, tokens and the audit trail are per country). Use another "
            "FIELDCHECK_DATABASE_URL, or set FIELDCHECK_COUNTRY to " + row.value
        )
