"""lendguard: the engine behind an embedded loan entry."""

__version__ = "0.1.0"
