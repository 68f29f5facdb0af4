"""The schema as gateways made it before Alembic (``SQLModel.metadata.create_all`` of 2026-11),
and the append-only guards on the audit trail.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-01

Databases made before migrations have every table or most of them and no ``alembic_version``:
they are adopted by running this revision on them, which creates only what is missing (a table,
an index, the triggers) and keeps what is there. A fresh database gets everything. The
``biometric_template.model`` column is not here: revision 0002 adds it, as the hand-written
ALTER in ``gateway.db`` used to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES: list[str] = []  # in creation order (downgrade drops them in reverse)

# The audit trail is append-only in the database itself: an UPDATE or DELETE fails whoever
# issues it.
SQLITE_AUDIT_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
]
POSTGRES_AUDIT_GUARDS = [
    "CREATE OR REPLACE FUNCTION fieldcheck_audit_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION fieldcheck_audit_append_only()",
]


class _Existing:
    """What an adopted database already holds (nothing, for a fresh one)."""

    def __init__(self) -> None:
        inspector = sa.inspect(op.get_bind())
        self.tables = set(inspector.get_table_names())
        self.indexes = {t: {i["name"] for i in inspector.get_indexes(t)} for t in self.tables}


_existing: _Existing | None = None


def _table(name: str, *elements: Any) -> None:
    TABLES.append(name)
    assert _existing is not None
    if name not in _existing.tables:
        op.create_table(name, *elements)
        _existing.indexes[name] = set()


def _index(name: str, table: str, columns: list[str], unique: bool = False) -> None:
    assert _existing is not None
    if name not in _existing.indexes.get(table, set()):
        op.create_index(name, table, columns, unique=unique)


def upgrade() -> None:
    global _existing
    _existing = _Existing()
    TABLES.clear()
    _table('api_token',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_api_token_token_hash', 'api_token', ['token_hash'], unique=True)
    _table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_token_id', sa.String(length=40), nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('device_id', sa.String(length=100), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.String(length=60), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('detail', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_audit_entry_action', 'audit_entry', ['action'], unique=False)
    _index('ix_audit_entry_actor_token_id', 'audit_entry', ['actor_token_id'], unique=False)
    _index('ix_audit_entry_at', 'audit_entry', ['at'], unique=False)
    _index('ix_audit_entry_target_id', 'audit_entry', ['target_id'], unique=False)
    _table('check_record',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('token_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=100), nullable=True),
    sa.Column('adapter', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=True),
    sa.Column('local_decision', sa.String(length=12), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=False),
    sa.Column('watchlist_version', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('upstream_status', sa.String(length=16), nullable=False),
    sa.Column('upstream_result', sa.JSON(), nullable=True),
    sa.Column('review_status', sa.String(length=12), nullable=True),
    sa.Column('review_comment', sa.String(length=2000), nullable=True),
    sa.Column('reviewed_by', sa.String(length=40), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_check_record_created_at', 'check_record', ['created_at'], unique=False)
    _index('ix_check_record_decision', 'check_record', ['decision'], unique=False)
    _index('ix_check_record_review_status', 'check_record', ['review_status'], unique=False)
    _index('ix_check_record_token_id', 'check_record', ['token_id'], unique=False)
    _index('ix_check_record_upstream_status', 'check_record', ['upstream_status'], unique=False)
    _table('deployment_setting',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    _table('device_language',
    sa.Column('token_id', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_id')
    )
    _table('import_job',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=2000), nullable=True),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _table('import_job_owner',
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('process_id', sa.String(length=120), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_id')
    )
    _index('ix_import_job_owner_process_id', 'import_job_owner', ['process_id'], unique=False)
    _table('probe_image',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('check_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=20), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_probe_image_check_id', 'probe_image', ['check_id'], unique=False)
    _index('ix_probe_image_created_at', 'probe_image', ['created_at'], unique=False)
    _table('snapshot_load',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.String(length=60), nullable=False),
    sa.Column('source_gateway', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_snapshot_load_snapshot_id', 'snapshot_load', ['snapshot_id'], unique=False)
    _index('ix_snapshot_load_source_gateway', 'snapshot_load', ['source_gateway'], unique=False)
    _table('staff_session',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id_hash')
    )
    _index('ix_staff_session_user_id', 'staff_session', ['user_id'], unique=False)
    _table('staff_user',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_staff_user_username', 'staff_user', ['username'], unique=True)
    _table('subject',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('external_ref', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('nationality', sa.String(length=2), nullable=True),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('originating_country', sa.String(length=2), nullable=False),
    sa.Column('sharing', sa.JSON(), nullable=True),
    sa.Column('handling_instructions', sa.String(length=2000), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notes', sa.String(length=4000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_subject_category', 'subject', ['category'], unique=False)
    _index('ix_subject_external_ref', 'subject', ['external_ref'], unique=True)
    _index('ix_subject_name', 'subject', ['name'], unique=False)
    _table('subject_origin',
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('source_gateway', sa.String(length=60), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject_id')
    )
    _index('ix_subject_origin_source_gateway', 'subject_origin', ['source_gateway'], unique=False)
    _table('subject_scope',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('originating_country', sa.String(length=2), nullable=False),
    sa.Column('sharing', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_subject_scope_subject_id', 'subject_scope', ['subject_id'], unique=False)
    _table('upstream_document',
    sa.Column('document_number', sa.String(length=40), nullable=False),
    sa.Column('issuing_state', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('document_number', 'issuing_state')
    )
    _table('upstream_feed_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('synced_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    _table('upstream_notice',
    sa.Column('notice_id', sa.String(length=60), nullable=False),
    sa.Column('surname', sa.String(length=100), nullable=True),
    sa.Column('given_names', sa.String(length=200), nullable=True),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.Column('category', sa.String(length=30), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('notice_id')
    )
    _index('ix_upstream_notice_surname', 'upstream_notice', ['surname'], unique=False)
    _table('upstream_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=120), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('available_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('locked_by', sa.String(length=80), nullable=True),
    sa.Column('locked_until', sa.Float(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('dead_reason', sa.String(length=1000), nullable=True),
    sa.Column('finished_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    _index('ix_upstream_outbox_check_id', 'upstream_outbox', ['check_id'], unique=False)
    _index('ix_upstream_outbox_claim', 'upstream_outbox', ['state', 'priority', 'id'])
    _table('watchlist_change',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('op', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    _index('ix_watchlist_change_subject_id', 'watchlist_change', ['subject_id'], unique=False)
    _table('watchlist_meta',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    _table('biometric_template',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('modality', sa.String(length=10), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_biometric_template_subject_id', 'biometric_template', ['subject_id'], unique=False)
    _table('reference_image',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('ppi', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=20), nullable=False),
    sa.Column('blob', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['biometric_template.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    _index('ix_reference_image_subject_id', 'reference_image', ['subject_id'], unique=False)
    _index('ix_reference_image_template_id', 'reference_image', ['template_id'], unique=False)

    dialect = op.get_bind().dialect.name
    guards = {"sqlite": SQLITE_AUDIT_GUARDS, "postgresql": POSTGRES_AUDIT_GUARDS}
    for statement in guards.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS fieldcheck_audit_append_only()")
    for table in reversed(sa.inspect(op.get_bind()).get_sorted_table_and_fkc_names()):
        if table[0] and table[0] != "alembic_version":
            op.drop_table(table[0])
