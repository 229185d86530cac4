"""Who may call the API and how: partners and their signed requests, people's tokens, roles,
rate limits, replay protection, field encryption of personal data and masked logs."""
