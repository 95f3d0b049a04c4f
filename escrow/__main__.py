"""``python -m escrow``: the same command as the ``escrow`` console script."""

from escrow.cli.main import cli

cli()
