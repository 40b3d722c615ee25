"""imaging: DICOM instances received, complete studies, their patient identifiers

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'imaging_instances',
        sa.Column('message_id', sa.String(length=32), nullable=False,
                  comment='journal message'),
        sa.Column('sop_instance_uid', sa.String(length=64), nullable=False),
        sa.Column('study_uid', sa.String(length=64), nullable=False),
        sa.Column('series_uid', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.Float(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('facts', sa.Text(), nullable=False,
                  comment='header attributes by keyword (JSON)'),
        sa.PrimaryKeyConstraint('message_id'),
    )
    op.create_index('ix_imaging_instances_study', 'imaging_instances',
                    ['study_uid', 'received_at'])
    op.create_index('ix_imaging_instances_received', 'imaging_instances', ['received_at'])
    op.create_table(
        'imaging_studies',
        sa.Column('study_uid', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('patient_system', sa.String(length=128), nullable=True,
                  comment='local PatientID authority'),
        sa.Column('patient_value', sa.String(length=64), nullable=True,
                  comment='local PatientID'),
        sa.Column('regional_id', sa.String(length=64), nullable=True),
        sa.Column('ins_value', sa.String(length=64), nullable=True,
                  comment='qualified INS, when known'),
        sa.Column('study_date', sa.String(length=8), nullable=True),
        sa.Column('accession_number', sa.String(length=64), nullable=True),
        sa.Column('modalities', sa.String(length=128), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('series', sa.Integer(), nullable=False),
        sa.Column('instances', sa.Integer(), nullable=False),
        sa.Column('last_received_at', sa.Float(), nullable=False),
        sa.Column('indexed_at', sa.Float(), nullable=False),
        sa.Column('resource', sa.Text(), nullable=False, comment='FHIR ImagingStudy (JSON)'),
        sa.PrimaryKeyConstraint('study_uid'),
    )
    op.create_index('ix_imaging_studies_indexed_at', 'imaging_studies', ['indexed_at'])
    op.create_table(
        'imaging_study_identifiers',
        sa.Column('system', sa.String(length=128), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('study_uid', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('system', 'value', 'study_uid'),
    )


def downgrade() -> None:
    op.drop_table('imaging_study_identifiers')
    op.drop_index('ix_imaging_studies_indexed_at', table_name='imaging_studies')
    op.drop_table('imaging_studies')
    op.drop_index('ix_imaging_instances_received', table_name='imaging_instances')
    op.drop_index('ix_imaging_instances_study', table_name='imaging_instances')
    op.drop_table('imaging_instances')
