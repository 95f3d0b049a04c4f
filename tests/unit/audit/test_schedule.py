"""The checkpoint schedule and its settings (no real waiting: the schedule's sleep is faked)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from crypto import Keyring
from escrow import schedule
from escrow.audit.checkpoints import ORIGIN_PREFIX, default_origin
from escrow.audit.trail import checkpoint_schedule
from escrow.config import load_settings
from escrow.errors import ConfigError


class _CountingTrail:
    def __init__(self, interval: int, failures: int = 0) -> None:
        self.interval = interval
        self.failures = failures
        self.calls = 0

    def issue_checkpoint(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("database down")


def _run_schedule(trail: _CountingTrail, ticks: int, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    waits: list[Any] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    # Every turn is this process's (turns across processes: tests/unit/services/jobs).
    monkeypatch.setattr(schedule, "take_turn", lambda *_: True)
    monkeypatch.setattr(schedule, "end_turn", lambda *_: None)
    app: Any = SimpleNamespace(
        state=SimpleNamespace(
            components=SimpleNamespace(
                trail=trail, db=None, clock=SimpleNamespace(now=lambda: None)
            )
        )
    )

    async def main() -> None:
        async with checkpoint_schedule(app):
            while trail.calls < ticks and len(waits) < 1000:
                await real_sleep(0.001)

    asyncio.run(main())
    return waits


def test_the_schedule_checkpoints_every_interval_and_survives_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trail = _CountingTrail(interval=60, failures=2)
    waits = _run_schedule(trail, ticks=4, monkeypatch=monkeypatch)
    assert trail.calls >= 4 and set(waits) == {60}


def test_an_interval_of_zero_disables_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    trail = _CountingTrail(interval=0)
    app: Any = SimpleNamespace(state=SimpleNamespace(components=SimpleNamespace(trail=trail)))

    async def main() -> None:
        async with checkpoint_schedule(app):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert trail.calls == 0


def test_audit_settings(tmp_path: Path) -> None:
    defaults = load_settings({"ESCROW_DATA_DIR": str(tmp_path)})
    assert (defaults.audit_origin, defaults.checkpoint_interval) == (None, 60)
    chosen = load_settings(
        {"ESCROW_AUDIT_ORIGIN": "example.com/log", "ESCROW_CHECKPOINT_INTERVAL": "0"}
    )
    assert (chosen.audit_origin, chosen.checkpoint_interval) == ("example.com/log", 0)
    for name, value in [
        ("ESCROW_AUDIT_ORIGIN", "has space"),
        ("ESCROW_AUDIT_ORIGIN", "a+b"),
        ("ESCROW_CHECKPOINT_INTERVAL", "-1"),
    ]:
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})
    keyring = Keyring.create(tmp_path / "keyring.json")
    origin = default_origin(keyring)
    assert origin.startswith(ORIGIN_PREFIX) and origin == default_origin(keyring)
    staged = keyring.stage_signing_key("receipt", at=datetime.now(UTC))
    keyring.promote_signing_key("receipt", staged, at=datetime.now(UTC))
    assert default_origin(keyring) == origin  # a rotation keeps the log's name
