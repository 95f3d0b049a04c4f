"""Match-key normalizers for overlaps (DESIGN section 11), vectorised over Arrow arrays.

``normalize(values, kind)`` takes an Arrow array (or chunked array) of strings and returns a
``pa.Array`` of the same length whose nulls stand for "never matches": a null input, or a
value that normalizes to the empty string. The steps, in this order:

- ``domain``: trim; drop a scheme (``https://``); drop path, query and fragment; keep what
  follows the last ``@`` (an e-mail address gives its domain, a URL drops its user info);
  drop a port; lowercase; drop trailing dots; drop one leading ``www.``; IDN labels to
  punycode (IDNA 2008 with UTS 46 mapping, via ``idna``; a value ``idna`` refuses never
  matches). Subdomains are kept: ``eu.example.com`` does not match ``example.com``.
- ``email``: trim, lowercase.
- ``text``: NFKC, casefold, runs of whitespace collapsed to one space, trimmed.

Only values that are not ASCII take a per-value Python step (IDNA, casefold); everything
else is one ``pyarrow.compute`` kernel per step over the whole array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import idna
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NORMALIZERS", "normalize", "normalize_value"]

NORMALIZERS: Final = ("domain", "email", "text")

# One pass keeps the host: after an optional scheme, the text after the last "@" before any
# path, query or fragment, without a port. ``(?s)``: a newline is just another character.
_HOST: Final = (
    r"(?s)^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#\\]*@)?([^/?#\\]*?)(?::[0-9]*)?"
    r"(?:[/?#\\].*)?$"
)
_URL_CHARS: Final = r"[:/?#\\@]"
_WHITESPACE: Final = r"\s+"


def normalize(values: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array:
    """Normalized keys, null where a value can never match."""
    if kind not in _KINDS:
        raise ValueError(f"unsupported normalizer {kind!r}: one of {', '.join(NORMALIZERS)}")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    keys = _KINDS[kind](values)
    return pc.if_else(pc.equal(keys, ""), pa.scalar(None, keys.type), keys)


def normalize_value(value: str | None, kind: str) -> str | None:
    """One value, for callers holding a single key (the same steps as ``normalize``)."""
    result = normalize(pa.array([value], pa.string()), kind)[0].as_py()
    return result if isinstance(result, str) else None


def _domain(values: pa.Array) -> pa.Array:
    keys = pc.utf8_trim_whitespace(values)
    # Most values are a bare host: only those holding a URL or address character take the
    # (slower) regular expression.
    messy = pc.fill_null(pc.match_substring_regex(keys, _URL_CHARS), False)
    if pc.any(messy).as_py():
        hosts = pc.replace_substring_regex(pc.filter(keys, messy), _HOST, r"\1")
        keys = pc.replace_with_mask(keys, messy, hosts)
    keys = pc.utf8_rtrim(pc.ascii_lower(keys), characters=".")  # IDNA lowercases the rest
    www = pc.fill_null(pc.starts_with(keys, "www."), False)
    keys = pc.if_else(www, pc.utf8_slice_codeunits(keys, 4), keys)
    return _per_non_ascii(keys, _punycode)


def _email(values: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_trim_whitespace(values))


def _text(values: pa.Array) -> pa.Array:
    keys = pc.utf8_normalize(values, form="NFKC")
    keys = _per_non_ascii(pc.utf8_lower(keys), str.casefold)  # ASCII: lower == casefold
    keys = pc.replace_substring_regex(keys, _WHITESPACE, " ")
    return pc.utf8_trim_whitespace(keys)


def _per_non_ascii(keys: pa.Array, step: Callable[[str], str]) -> pa.Array:
    """Applies ``step`` to the values that are not ASCII (few, in real account lists)."""
    ascii_mask = pc.fill_null(pc.string_is_ascii(keys), True)
    if pc.all(ascii_mask).as_py():
        return keys
    changed = [step(v) for v in pc.filter(keys, pc.invert(ascii_mask)).to_pylist()]
    return pc.replace_with_mask(keys, pc.invert(ascii_mask), pa.array(changed, keys.type))


def _punycode(label_text: str) -> str:
    """IDN to its ASCII form; a value IDNA refuses normalizes to empty (never matches)."""
    try:
        return idna.encode(label_text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return ""


_KINDS: Final[dict[str, Callable[[pa.Array], pa.Array]]] = {
    "domain": _domain,
    "email": _email,
    "text": _text,
}
