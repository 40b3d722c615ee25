"""document repository: documents, their patient identifiers, submission sets

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _documents() -> None:
    op.create_table(
        'documents',
        sa.Column('id', sa.String(length=32), nullable=False,
                  comment='DocumentReference id, time-ordered'),
        sa.Column('unique_id', sa.String(length=256), nullable=False,
                  comment='XDS uniqueId (CDA id)'),
        sa.Column('status', sa.String(length=24), nullable=False,
                  comment='current, superseded, entered-in-error'),
        sa.Column('sha256', sa.String(length=64), nullable=False,
                  comment='blob of the document bytes'),
        sa.Column('sha1', sa.String(length=40), nullable=False, comment='XDS hash'),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('mime_type', sa.String(length=128), nullable=False),
        sa.Column('set_id', sa.String(length=256), nullable=True),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('replaces', sa.String(length=32), nullable=True,
                  comment='id of the version it replaced'),
        sa.Column('replaced_by', sa.String(length=32), nullable=True,
                  comment='id of the version replacing it'),
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('patient_system', sa.String(length=128), nullable=False,
                  comment='subject: INS, else IPP'),
        sa.Column('patient_value', sa.String(length=64), nullable=False),
        sa.Column('ins_system', sa.String(length=128), nullable=True),
        sa.Column('ins_value', sa.String(length=64), nullable=True),
        sa.Column('shareable', sa.Boolean(), nullable=False,
                  comment='patient has a qualified INS: may go to national services'),
        sa.Column('masque_ps', sa.Boolean(), nullable=False),
        sa.Column('invisible_patient', sa.Boolean(), nullable=False),
        sa.Column('invisible_rep_legaux', sa.Boolean(), nullable=False),
        sa.Column('connexion_secrete', sa.Boolean(), nullable=False),
        sa.Column('confidentiality', sa.String(length=16), nullable=False,
                  comment='N, R or V'),
        sa.Column('type_code', sa.String(length=64), nullable=False),
        sa.Column('class_code', sa.String(length=64), nullable=True),
        sa.Column('format_code', sa.String(length=128), nullable=False),
        sa.Column('facility_code', sa.String(length=64), nullable=True),
        sa.Column('setting_code', sa.String(length=64), nullable=True),
        sa.Column('author_families', sa.Text(), nullable=False,
                  comment='|FAMILY|FAMILY| upper case'),
        sa.Column('creation_at', sa.Float(), nullable=False),
        sa.Column('service_start_at', sa.Float(), nullable=True),
        sa.Column('service_stop_at', sa.Float(), nullable=True),
        sa.Column('filed_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=32), nullable=True,
                  comment='journal message it came in'),
        sa.Column('meta', sa.Text(), nullable=False,
                  comment='XDS metadata and DocumentReference (JSON)'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ux_documents_unique_id', ['unique_id'], unique=True)
        batch_op.create_index('ix_documents_set_id', ['set_id'], unique=False)
        batch_op.create_index('ix_documents_submission_id', ['submission_id'], unique=False)


def upgrade() -> None:
    _documents()
    op.create_table(
        'document_identifiers',
        sa.Column('system', sa.String(length=128), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('document_id', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('system', 'value', 'document_id'),
    )
    op.create_table(
        'submission_sets',
        sa.Column('id', sa.String(length=32), nullable=False, comment='List id'),
        sa.Column('unique_id', sa.String(length=256), nullable=False),
        sa.Column('source_id', sa.String(length=256), nullable=False,
                  comment='XDS sourceId: the sender'),
        sa.Column('patient_system', sa.String(length=128), nullable=False),
        sa.Column('patient_value', sa.String(length=64), nullable=False),
        sa.Column('submitted_at', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=32), nullable=True),
        sa.Column('title', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('submission_sets', schema=None) as batch_op:
        batch_op.create_index('ix_submission_sets_patient',
                              ['patient_value', 'patient_system'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission_sets', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_sets_patient')
    op.drop_table('submission_sets')
    op.drop_table('document_identifiers')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_submission_id')
        batch_op.drop_index('ix_documents_set_id')
        batch_op.drop_index('ux_documents_unique_id')
    op.drop_table('documents')
