"""The borrower's personal data (name, phone, ID number, bank card), encrypted field by field."""
