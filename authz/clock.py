"""Time as the rules see it: instants in UTC, days in Europe/Amsterdam. Injectable so tests never sleep."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Clock:
    """The real clock. ``today_ordinal`` is on the hot path of every check: it is cached until the next midnight."""

    def __init__(self) -> None:
        self._today = 0
        self._until = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(AMSTERDAM).date()

    def today_ordinal(self) -> int:
        if time.time() >= self._until:
            now = self.now()
            local = now.astimezone(AMSTERDAM)
            self._today = local.date().toordinal()
            midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), AMSTERDAM)
            self._until = midnight.timestamp() if type(self) is Clock else 0.0
        return self._today


class FrozenClock(Clock):
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at

    def today_ordinal(self) -> int:
        return self.today().toordinal()

    def advance(self, **delta: float) -> None:
        self.at = self.at + timedelta(**delta)

    def set_day(self, day: date) -> None:
        self.at = datetime.combine(day, datetime.min.time().replace(hour=12), AMSTERDAM).astimezone(UTC)
