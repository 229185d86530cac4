"""The loan ledger: credit lines, loans, installments, the journal, idempotency keys, contracts.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 11:06:17.484369
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('credit_lines',
    sa.Column('line_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=32), nullable=False),
    sa.Column('limit_minor', sa.BigInteger(), nullable=False),
    sa.Column('used_minor', sa.BigInteger(), nullable=False),
    sa.Column('daily_rate', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('line_id')
    )
    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_lines_user_id'), ['user_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('operation', sa.String(length=32), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('journal_entries',
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('entry_id')
    )
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_entries_loan_id'), ['loan_id'], unique=False)

    op.create_table('loans',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('line_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=32), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('daily_rate', sa.String(length=40), nullable=False),
    sa.Column('penalty_daily_rate', sa.String(length=40), nullable=False),
    sa.Column('apr', sa.String(length=40), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accrued_through', sa.Date(), nullable=False),
    sa.Column('penalty_exact', sa.Text(), nullable=False),
    sa.Column('principal_outstanding', sa.BigInteger(), nullable=False),
    sa.Column('interest_receivable', sa.BigInteger(), nullable=False),
    sa.Column('penalty_receivable', sa.BigInteger(), nullable=False),
    sa.Column('fee_receivable', sa.BigInteger(), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('contract_sha256', sa.String(length=64), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['line_id'], ['credit_lines.line_id'], ),
    sa.PrimaryKeyConstraint('loan_id')
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loans_line_id'), ['line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loans_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_loans_user_id'), ['user_id'], unique=False)

    op.create_table('postings',
    sa.Column('posting_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=True),
    sa.Column('debit_minor', sa.BigInteger(), nullable=False),
    sa.Column('credit_minor', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.entry_id'], ),
    sa.PrimaryKeyConstraint('posting_id')
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postings_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_postings_loan_account', ['loan_id', 'account'], unique=False)

    op.create_table('contracts',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('text_zh', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('terms_json', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], ),
    sa.PrimaryKeyConstraint('loan_id')
    )
    op.create_table('installments',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('interest_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('interest_exact', sa.Text(), nullable=False),
    sa.Column('interest_accrued', sa.BigInteger(), nullable=False),
    sa.Column('principal_paid', sa.BigInteger(), nullable=False),
    sa.Column('interest_paid', sa.BigInteger(), nullable=False),
    sa.Column('fee_paid', sa.BigInteger(), nullable=False),
    sa.Column('fee_posted', sa.Boolean(), nullable=False),
    sa.Column('overdue_fee_charged', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], ),
    sa.PrimaryKeyConstraint('loan_id', 'number')
    )
    


def downgrade() -> None:
    
    op.drop_table('installments')
    op.drop_table('contracts')
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index('ix_postings_loan_account')
        batch_op.drop_index(batch_op.f('ix_postings_entry_id'))

    op.drop_table('postings')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loans_user_id'))
        batch_op.drop_index(batch_op.f('ix_loans_status'))
        batch_op.drop_index(batch_op.f('ix_loans_line_id'))

    op.drop_table('loans')
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_entries_loan_id'))

    op.drop_table('journal_entries')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('credit_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_lines_user_id'))

    op.drop_table('credit_lines')
    
