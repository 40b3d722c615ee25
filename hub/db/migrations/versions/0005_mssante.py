"""mssante: RPPS directory, deliveries and recipients of the mails sent

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mssante_directory',
        sa.Column('rpps', sa.String(length=16), nullable=False, comment='RPPS number (11 digits)'),
        sa.Column('address', sa.String(length=256), nullable=False, comment='MSSanté mailbox'),
        sa.Column('family', sa.String(length=128), nullable=True),
        sa.Column('given', sa.String(length=128), nullable=True),
        sa.Column('origin', sa.String(length=32), nullable=False, comment='csv, api'),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('rpps'),
    )
    op.create_table(
        'mssante_deliveries',
        sa.Column('delivery_key', sa.String(length=80), nullable=False),
        sa.Column('mail_id', sa.String(length=256), nullable=False,
                  comment='RFC 5322 Message-ID sent'),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('delivery_key'),
    )
    op.create_table(
        'mssante_recipients',
        sa.Column('delivery_key', sa.String(length=80), nullable=False),
        sa.Column('address', sa.String(length=256), nullable=False),
        sa.Column('mail_id', sa.String(length=256), nullable=False),
        sa.Column('message_id', sa.String(length=32), nullable=False,
                  comment='journal message mailed'),
        sa.Column('recipient_id', sa.String(length=64), nullable=False,
                  comment='RPPS, IDNPS or INS'),
        sa.Column('status', sa.String(length=16), nullable=False, comment='sent, refused, read'),
        sa.Column('smtp_code', sa.Integer(), nullable=True),
        sa.Column('read_asked', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('delivery_key', 'address'),
    )
    op.create_index('ix_mssante_recipients_mail_id', 'mssante_recipients', ['mail_id'])


def downgrade() -> None:
    op.drop_index('ix_mssante_recipients_mail_id', table_name='mssante_recipients')
    op.drop_table('mssante_recipients')
    op.drop_table('mssante_deliveries')
    op.drop_table('mssante_directory')
