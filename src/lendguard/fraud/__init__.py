"""fraud."""
