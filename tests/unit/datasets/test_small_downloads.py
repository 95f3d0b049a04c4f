"""A download of at most one feed is read whole in the hop that opened it; a longer one and
a view stream from their start, nothing read ahead."""

from __future__ import annotations

from collections.abc import Iterator

from escrow.datasets.download import ByteRange, Content, Original
from escrow.datasets.routes import FEED_SIZE, _whole_if_small


def _content(pieces: list[bytes], original: Original | None) -> tuple[Content, list[int]]:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for piece in pieces:
            pulled.append(len(piece))
            yield piece

    return Content(chunks(), "text/csv", '"e"', original), pulled


def test_a_download_within_one_feed_is_read_whole() -> None:
    pieces = [b"a" * 10, b"b" * 20]
    content, pulled = _content(pieces, Original(30, "00", None))
    assert _whole_if_small(content) == pieces
    assert pulled == [10, 20] and next(content.chunks, None) is None


def test_a_range_counts_by_its_own_length() -> None:
    content, _ = _content([b"x" * 1024], Original(10 * FEED_SIZE, "00", ByteRange(0, 1024)))
    assert _whole_if_small(content) == [b"x" * 1024]


def test_a_longer_download_and_a_view_are_not_read_ahead() -> None:
    longer, pulled = _content([b"x"], Original(FEED_SIZE + 1, "00", None))
    assert _whole_if_small(longer) is None and pulled == []
    view, pulled = _content([b"x"], None)
    assert _whole_if_small(view) is None and pulled == []
