"""Templates name the model that made them: ``biometric_template.model``.

Revision ID: 0002_template_model
Revises: 0001_initial
Create Date: 2026-12-01

Formerly a hand-written ALTER in ``gateway.db`` run at every start. Rows stored before the column
existed are marked with the models of that time, so their embeddings are never compared with a
newer model's. A database made by the create_all of 2026-11 already has the column (the models
declared it): then only the backfill runs, and it finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_template_model"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# gateway.watchlist.models.LEGACY_MODELS as it was when the column came (frozen here).
LEGACY_FACE = "dlib-resnet-v1"
LEGACY_FINGER = "nbis-mindtct"


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("biometric_template")}
    if "model" not in columns:
        # NOT NULL needs a default for the rows already there (SQLite refuses it otherwise).
        op.add_column("biometric_template", sa.Column(
            "model", sa.String(length=60), nullable=False, server_default=""))
    op.execute(sa.text(
        "UPDATE biometric_template SET model = CASE modality WHEN 'face' THEN :face "
        "ELSE :finger END WHERE model = ''"
    ).bindparams(face=LEGACY_FACE, finger=LEGACY_FINGER))


def downgrade() -> None:
    with op.batch_alter_table("biometric_template") as batch:
        batch.drop_column("model")
