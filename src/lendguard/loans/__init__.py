"""Products, pricing and the loan: offers, schedules, APR by IRR, contracts and the ledger (SPEC §2)."""
