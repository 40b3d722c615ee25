"""identity (SRRI): records, blocks, identities, log, reviews, name counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_records',
    sa.Column('key', sa.String(length=300), nullable=False, comment='<authority>|<IPP>'),
    sa.Column('authority', sa.String(length=128), nullable=False),
    sa.Column('ipp', sa.String(length=128), nullable=False),
    sa.Column('identity_id', sa.String(length=32), nullable=False, comment='regional identity linked to'),
    sa.Column('provenance', sa.String(length=8), nullable=False, comment='auto | manual | source'),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False, comment='RNIV PROV/RECUP/VALI/QUAL'),
    sa.Column('attributes', sa.String(length=64), nullable=False, comment='DOUT,FICT,...'),
    sa.Column('ins_system', sa.String(length=64), nullable=True),
    sa.Column('ins_value', sa.String(length=32), nullable=True),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('traits', sa.Text(), nullable=False, comment='raw traits, JSON'),
    sa.Column('normalized', sa.Text(), nullable=False, comment='normalised traits, JSON (identity.codec): not normalised again'),
    sa.Column('active', sa.Boolean(), nullable=False, comment='false once merged away'),
    sa.Column('merged_into', sa.String(length=300), nullable=True),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_identity_records_identity', 'identity_records', ['identity_id'], unique=False)
    op.create_index('ix_identity_records_ins', 'identity_records', ['ins_value'], unique=False)
    op.create_table('identity_blocks',
    sa.Column('block', sa.String(length=128), nullable=False, comment='blocking key'),
    sa.Column('record_key', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('block', 'record_key')
    )
    op.create_index('ix_identity_blocks_record', 'identity_blocks', ['record_key'], unique=False)
    op.create_table('identity_identities',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('identity_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('record_key', sa.String(length=300), nullable=True),
    sa.Column('identity_id', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=True, comment='the ADT that caused it'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_identity_log_identity', 'identity_log', ['identity_id'], unique=False)
    op.create_index('ix_identity_log_record', 'identity_log', ['record_key'], unique=False)
    op.create_table('identity_reviews',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='review | collision'),
    sa.Column('record_key', sa.String(length=300), nullable=False, comment='the incoming record'),
    sa.Column('other_key', sa.String(length=300), nullable=False, comment='the stored record'),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=False, comment='field by field, JSON'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='open | linked | separated'),
    sa.Column('opened_at', sa.Float(), nullable=False),
    sa.Column('decided_at', sa.Float(), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_identity_reviews_record', 'identity_reviews', ['record_key'], unique=False)
    op.create_index('ix_identity_reviews_status', 'identity_reviews', ['status'], unique=False)
    op.create_table('identity_names',
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('field', 'value')
    )


def downgrade() -> None:
    for index, table in (
        ('ix_identity_reviews_status', 'identity_reviews'),
        ('ix_identity_reviews_record', 'identity_reviews'),
        ('ix_identity_log_record', 'identity_log'),
        ('ix_identity_log_identity', 'identity_log'),
        ('ix_identity_blocks_record', 'identity_blocks'),
        ('ix_identity_records_ins', 'identity_records'),
        ('ix_identity_records_identity', 'identity_records'),
    ):
        op.drop_index(index, table_name=table)
    for table in ('identity_names', 'identity_reviews', 'identity_log', 'identity_identities',
                  'identity_blocks', 'identity_records'):
        op.drop_table(table)
