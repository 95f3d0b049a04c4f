"""Profiles: which server to call with which API key, kept in one private TOML file.

``$ESCROW_CONFIG_DIR/profiles.toml`` (default ``$XDG_CONFIG_HOME/escrow``, else
``~/.config/escrow``), a directory of mode 0700 holding a file of mode 0600, rewritten
atomically under a lock. Access tokens are never written: each run exchanges the key.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from escrow.cli.client.exits import CliError, ExitCode, usage_error

FILE_NAME = "profiles.toml"
DEFAULT_NAME = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Profile:
    name: str
    server: str  # base URL without a trailing slash
    key_id: str
    secret: str = field(repr=False)


@dataclass
class Profiles:
    entries: dict[str, Profile] = field(default_factory=dict)
    default: str | None = None


def config_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("ESCROW_CONFIG_DIR"):
        return Path(environ["ESCROW_CONFIG_DIR"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "escrow"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise usage_error(f"profile name {name!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    return name


def normalize_server(url: str) -> str:
    """An http(s) base URL without a trailing slash, or a usage error saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise usage_error(f"server {url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise usage_error(f"server {url!r} must not have a query or fragment")
    return url.strip().rstrip("/")


class ProfileStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    def load(self) -> Profiles:
        """Fails closed: a file others may read is refused, as ssh refuses a private key."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return Profiles()
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise usage_error(
                f"{self.path} is readable by others; it holds API secrets: chmod 600 it"
            )
        try:
            document = tomllib.loads(self.path.read_text(encoding="utf-8"))
            return _parse(document)
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise usage_error(f"{self.path} is not a valid profiles file: {exc}") from None

    def get(self, name: str | None) -> Profile:
        profiles = self.load()
        chosen = name or profiles.default
        if chosen is None and len(profiles.entries) == 1:
            chosen = next(iter(profiles.entries))
        if chosen is None or chosen not in profiles.entries:
            which = f"profile {chosen!r}" if chosen else "profile"
            raise CliError.local(
                ExitCode.AUTH,
                "not-logged-in",
                "Not logged in",
                f"no {which} in {self.path}: run `escrow login --server URL --key-id ID`",
            )
        return profiles.entries[chosen]

    def save(self, profile: Profile, make_default: bool) -> Profiles:
        with self._locked():
            profiles = self.load()
            profiles.entries[profile.name] = profile
            if make_default or profiles.default not in profiles.entries:
                profiles.default = profile.name
            self._write(profiles)
        return profiles

    def remove(self, name: str) -> bool:
        with self._locked():
            profiles = self.load()
            if profiles.entries.pop(name, None) is None:
                return False
            if profiles.default == name:
                profiles.default = next(iter(profiles.entries), None)
            self._write(profiles)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serializes read-modify-write between concurrent logins."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # ours: tighten one an older tool made wider
        lock = os.open(self.directory / ".profiles.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def _write(self, profiles: Profiles) -> None:
        """Atomic: a reader sees the old file or the new one, never a part (0600 from birth)."""
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".profiles.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(_render(profiles))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _parse(document: dict[str, object]) -> Profiles:
    default = document.get("default")
    table = document.get("profiles", {})
    if not isinstance(table, dict) or not (default is None or isinstance(default, str)):
        raise ValueError('expected `default = "name"` and [profiles.<name>] tables')
    entries = {}
    for name, values in table.items():
        if not isinstance(values, dict):
            raise ValueError(f"[profiles.{name}] is not a table")
        entries[name] = Profile(
            name, str(values["server"]), str(values["key_id"]), str(values["secret"])
        )
    return Profiles(entries, default)


def _render(profiles: Profiles) -> str:
    # json.dumps of a str is a valid TOML basic string (same escapes, ASCII only).
    lines = ["# escrow client profiles. Holds API key secrets: keep it 0600.", ""]
    if profiles.default is not None:
        lines += [f"default = {json.dumps(profiles.default)}", ""]
    for name, profile in sorted(profiles.entries.items()):
        lines += [
            f"[profiles.{json.dumps(name)}]",
            f"server = {json.dumps(profile.server)}",
            f"key_id = {json.dumps(profile.key_id)}",
            f"secret = {json.dumps(profile.secret)}",
            "",
        ]
    return "\n".join(lines)
