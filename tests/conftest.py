"""Shared fixtures: real PostgreSQL, a real S3-protocol server, SoftHSM2, the real HTTP stack."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.s3",
    "tests.fixtures.api",
    "tests.fixtures.datasets",
    "tests.fixtures.live",
    "tests.fixtures.postgres_instance",
    "tests.fixtures.softhsm",
]
