"""Funding: recurring allocations, grants with budget periods, approved adjustments."""
