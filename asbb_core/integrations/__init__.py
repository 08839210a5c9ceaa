"""Integrations: Slurm, the epilog spool, recovery, the advisor, aws-slurm-burst's cost reports
and performance feedback, and one job's money for them."""
