"""`escrow policy test [DIR]`: run a policy bundle's YAML test cases locally, no server needed."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def policy() -> None:
    """Polar policy bundles."""


@policy.command("test")
@click.argument(
    "directory",
    default="policies",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
def test(directory: Path) -> None:
    """Load DIR's *.polar files (default ./policies) and run every case in DIR/tests/*.yaml.

    Exit 0 only if the bundle loads and every case passes; each failure is printed as
    `FAILED <file>: <case>: <what went wrong>`.
    """
    from escrow.policy.engine import PolicyBundle, PolicyEngine, PolicyLoadError
    from escrow.policy.testing import run_suites

    bundle = PolicyBundle.from_directory(directory)
    if not bundle.files:
        raise click.ClickException(f"no .polar files under {directory}")
    try:
        engine = PolicyEngine(bundle)
    except PolicyLoadError as exc:
        raise click.ClickException(f"the policy does not load: {exc}") from None
    report = run_suites(engine, {f"tests/{name}": text for name, text in bundle.tests.items()})
    for failure in report.failures:
        click.echo(f"FAILED {failure}")
    summary = f"{report.passed} passed, {len(report.failures)} failed"
    summary += f" ({len(bundle.tests)} test files; policy {engine.version[:16]})"
    click.echo(summary)
    if not report.ok:
        raise SystemExit(1)
