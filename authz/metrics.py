"""Counters of one instance, exposed in Prometheus text format on /metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Sample = tuple[str, str, float | int, str]  # name, type (counter or gauge), value, help text


@dataclass
class Metrics:
    checks: Counter[str] = field(default_factory=Counter)  # by reason
    applied_changes: int = 0
    catch_ups: int = 0
    reloads: int = 0
    sync_errors: int = 0
    mails_sent: int = 0
    mail_errors: int = 0
    snapshot_loads: int = 0
    snapshot_writes: int = 0
    snapshot_write_errors: int = 0
    snapshot_rejected: Counter[str] = field(default_factory=Counter)  # by reason (authz.cache.snapshot.Rejected)

    def render(self, gauges: Mapping[str, float], extra: Iterable[Sample] = ()) -> str:
        """The text of /metrics: this object's counters, then ``extra`` (e.g. the bus's), then plain ``gauges``."""
        out = _labelled("authz_checks_total", "Decisions answered, by reason.", "reason", self.checks)
        out += _labelled("authz_snapshot_rejected_total", "Snapshots in Redis not used, by reason (the instance "
                         "loaded from SQL instead).", "reason", self.snapshot_rejected)
        samples: list[Sample] = [
            ("authz_applied_changes_total", "counter", self.applied_changes, "Revisions applied in place."),
            ("authz_catch_ups_total", "counter", self.catch_ups,
             "Reads of the SQL change log that found revisions to apply."),
            ("authz_reloads_total", "counter", self.reloads, "Full reloads of the decider from SQL."),
            ("authz_sync_errors_total", "counter", self.sync_errors, "Failed revision checks against SQL."),
            ("authz_snapshot_loads_total", "counter", self.snapshot_loads,
             "Decider loads from the snapshot in Redis."),
            ("authz_snapshot_writes_total", "counter", self.snapshot_writes, "Snapshots written to Redis."),
            ("authz_snapshot_write_errors_total", "counter", self.snapshot_write_errors,
             "Failed attempts to write a snapshot to Redis."),
            ("authz_mails_sent_total", "counter", self.mails_sent, "E-mails delivered from the outbox."),
            ("authz_mail_errors_total", "counter", self.mail_errors, "Failed attempts to deliver an e-mail."),
            *extra,
        ]
        for name, kind, value, help_text in samples:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        for gauge, reading in sorted(gauges.items()):
            out += [f"# TYPE {gauge} gauge", f"{gauge} {reading}"]
        return "\n".join(out) + "\n"


def _labelled(name: str, help_text: str, label: str, counts: Counter[str]) -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    return out + [f'{name}{{{label}="{key}"}} {n}' for key, n in sorted(counts.items())]
