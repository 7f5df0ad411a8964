"""The rules as pure functions over plain values: no SQL, no Redis, no Casbin, no clock of their own.

Each rule has one owner here, and the decider, explain, review, lint, diff, import and the services call it:
:mod:`.window` (the validity window of a contract or mandate, mandate coverage), :mod:`.access` (R1 for one grant,
the reason codes), :mod:`.grants` (R2: what may be offered and ticked; R9: the change of a grant set),
:mod:`.beheerders` (R4: always an active beheerder) and :mod:`.state` (the policy state as values).
"""
