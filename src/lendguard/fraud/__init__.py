"""Real-time anti-fraud (SPEC §3): streaming rules, the fund-flow graph, R1–R3 dispositions."""
