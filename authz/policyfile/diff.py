"""``authz policy diff OLD NEW``: the impact of a change in access terms, not the lines that changed.

Each file's state is loaded into a :class:`authz.decider.Decider` (the decision logic /v1/check runs) and R1 is asked
on one day for every (user, afnemer, product) that holds a grant in either file: access comes from grants only, so
these are all the answers that can differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from authz.domain.state import PolicyState
from authz.policyfile.model import decider_for


@dataclass(frozen=True, order=True)
class Impact:
    user: str
    afnemer: str
    product: str
    change: str  # gained | lost
    before: str  # reason code in the old state
    after: str  # reason code in the new state

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        sign = "+" if self.change == "gained" else "-"
        return f"{sign} {self.user} {self.change} {self.product} for {self.afnemer} ({self.before} -> {self.after})"


def impact(old: PolicyState, new: PolicyState, day: date) -> list[Impact]:
    """Who gains or loses which product for which afnemer on ``day``, going from ``old`` to ``new``, sorted."""
    before, after = decider_for(old, day), decider_for(new, day)
    out: list[Impact] = []
    for user, afnemer, product in sorted(set(old.grants) | set(new.grants)):
        was, now = before.check(user, product, afnemer), after.check(user, product, afnemer)
        if was.allowed != now.allowed:
            out.append(Impact(user, afnemer, product, "gained" if now.allowed else "lost", was.reason.value,
                              now.reason.value))
    return out
