"""SYNTHETIC DATA: a calibrated population generator (see docs/synthetic.md)."""
