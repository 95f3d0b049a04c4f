"""Partner Escrow: deposit datasets, release them to partners under audited policy."""

from __future__ import annotations

__version__ = "0.1.0"
