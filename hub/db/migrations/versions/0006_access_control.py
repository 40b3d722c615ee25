"""access control: users, clients, sessions

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'auth_users',
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=128), nullable=False),
        sa.Column('roles', sa.Text(), nullable=False, comment='JSON array of role names'),
        sa.Column('acts_as', sa.String(length=32), nullable=True,
                  comment='document readers: professional...'),
        sa.Column('password_hash', sa.String(length=256), nullable=False,
                  comment='argon2id, PHC string'),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('rotated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('login'),
    )
    op.create_table(
        'auth_clients',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('roles', sa.Text(), nullable=False, comment='JSON array of role names'),
        sa.Column('scopes', sa.Text(), nullable=False, comment='JSON array of SMART scopes'),
        sa.Column('establishments', sa.Text(), nullable=False,
                  comment='JSON array of OIDs / FINESS'),
        sa.Column('patients', sa.Text(), nullable=False, comment='JSON array of system|value'),
        sa.Column('acts_as', sa.String(length=32), nullable=True),
        sa.Column('source', sa.String(length=64), nullable=True,
                  comment='the inbound source it is bound to'),
        sa.Column('key_hash', sa.String(length=64), nullable=False,
                  comment='SHA-256 of the API key (hex)'),
        sa.Column('cert_sha256', sa.String(length=64), nullable=True,
                  comment='client certificate fingerprint'),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('rotated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_index('ix_auth_clients_key_hash', 'auth_clients', ['key_hash'], unique=True)
    op.create_index('ix_auth_clients_cert_sha256', 'auth_clients', ['cert_sha256'])
    op.create_table(
        'auth_tokens',
        sa.Column('token_hash', sa.String(length=64), nullable=False,
                  comment='SHA-256 of the token (hex)'),
        sa.Column('kind', sa.String(length=16), nullable=False,
                  comment='session (a user), access (a client)'),
        sa.Column('subject', sa.String(length=64), nullable=False,
                  comment='user login or client name'),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_auth_tokens_subject', 'auth_tokens', ['kind', 'subject'])


def downgrade() -> None:
    op.drop_index('ix_auth_tokens_subject', table_name='auth_tokens')
    op.drop_table('auth_tokens')
    op.drop_index('ix_auth_clients_cert_sha256', table_name='auth_clients')
    op.drop_index('ix_auth_clients_key_hash', table_name='auth_clients')
    op.drop_table('auth_clients')
    op.drop_table('auth_users')
