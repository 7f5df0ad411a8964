"""Counters of one instance, exposed in Prometheus text format on /metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    checks: Counter[str] = field(default_factory=Counter)  # by reason
    applied_changes: int = 0
    reloads: int = 0
    sync_errors: int = 0
    mails_sent: int = 0
    mail_errors: int = 0

    def render(self, gauges: dict[str, float]) -> str:
        out = [
            "# HELP authz_checks_total Decisions answered, by reason.",
            "# TYPE authz_checks_total counter",
        ]
        out += [f'authz_checks_total{{reason="{r}"}} {n}' for r, n in sorted(self.checks.items())]
        counters: tuple[tuple[str, int, str], ...] = (
            ("authz_applied_changes_total", self.applied_changes, "Revisions applied in place."),
            ("authz_reloads_total", self.reloads, "Full reloads of the decider from SQL."),
            ("authz_sync_errors_total", self.sync_errors, "Failed revision checks against SQL."),
            ("authz_mails_sent_total", self.mails_sent, "E-mails delivered from the outbox."),
            ("authz_mail_errors_total", self.mail_errors, "Failed attempts to deliver an e-mail."),
        )
        for name, value, help_text in counters:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]
        for gauge, reading in sorted(gauges.items()):
            out += [f"# TYPE {gauge} gauge", f"{gauge} {reading}"]
        return "\n".join(out) + "\n"
