"""Overlaps: populations, sharing levels, overlap counts and records (DESIGN section 11)."""
