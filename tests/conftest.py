"""Shared fixtures: real PostgreSQL, a real S3-protocol server, SoftHSM2, the real HTTP stack."""

import os

import hypothesis

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.s3",
    "tests.fixtures.api",
    "tests.fixtures.datasets",
    "tests.fixtures.live",
    "tests.fixtures.postgres_instance",
    "tests.fixtures.softhsm",
]

# Property tests draw the same examples on every run (a red CI run is a real regression,
# never a new draw); ESCROW_HYPOTHESIS=explore draws fresh ones, as `make fuzz` does.
hypothesis.settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis.settings.register_profile("explore", derandomize=False, database=None)
hypothesis.settings.load_profile(os.environ.get("ESCROW_HYPOTHESIS", "repeatable"))
