"""End-to-end tests on a real Slurm cluster (see conftest.py for the fixture API)."""
