"""A progress bar on stderr for the audit commands: the total is known first, then updated."""

import time


class ProgressBar:
    """``bar(done, total)`` redraws the bar at most every ``interval`` seconds; ``close()`` ends
    the line. Writes to ``stream`` (the command's stderr)."""

    def __init__(self, stream, label: str, *, width: int = 30, interval: float = 0.2):
        self.stream = stream
        self.label = label
        self.width = width
        self.interval = interval
        self.last = 0.0
        self.shown = False
        self.state = (0, 0)

    def __call__(self, done: int, total: int) -> None:
        self.state = (done, total)
        now = time.monotonic()
        if done < total and now - self.last < self.interval:
            return
        self.last = now
        self._draw(done, total)

    def _draw(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {share:4.0%} {done:,}/{total:,}", ending="")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self._draw(*self.state)
            self.stream.write("")
