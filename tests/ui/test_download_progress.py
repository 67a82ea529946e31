"""The app's download bar: the fraction where the size is known, the size and the speed in its words."""

from __future__ import annotations

from ui.progress import download_reporter, transfer_text


class Recorder:
    """Stands in for gr.Progress: keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, str, str]] = []

    def __call__(self, progress, desc=None, total=None, unit="steps") -> None:
        self.calls.append((progress, desc, unit))


def test_the_bar_moves_with_the_bytes_and_says_size_and_speed():
    bar, now = Recorder(), [100.0]
    report = download_reporter(bar, clock=lambda: now[0])
    report(0, 206_000_000, "LaMa big (Hub)")
    now[0] += 4.0
    report(52_000_000, 206_000_000, "LaMa big (Hub)")
    assert bar.calls[0][:2] == (0.0, "Downloading LaMa big (Hub): 0.0 MB of 206.0 MB")
    fraction, words, _unit = bar.calls[1]
    assert abs(fraction - 52 / 206) < 1e-9
    assert words == "Downloading LaMa big (Hub): 52.0 MB of 206.0 MB at 13.0 MB/s"


def test_an_unknown_size_still_shows_a_bar_with_the_bytes():
    bar = Recorder()
    download_reporter(bar, clock=lambda: 0.0)(3_000_000, None, "X")
    assert bar.calls == [((3_000_000, None), "Downloading X: 3.0 MB", "bytes")]
    assert transfer_text("X", 0, None, 5.0) == "Downloading X: 0.0 MB"


def test_without_a_bar_reports_go_nowhere():
    download_reporter(None)(1, 2, "X")  # no error
