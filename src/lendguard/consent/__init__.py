"""Consent and data use: grants per scope and purpose, the data gate, the access log, retention."""
