"""The rules a policy file must keep before it is imported (R2, R4), checked over the file and the state after it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from authz.policyfile.model import PolicyState
from authz.policyfile.parse import Parsed, PolicyFileError, Problem


def check_rules(parsed: Parsed, path: str, kept: Collection[tuple[str, str, str]] = (),
                current: PolicyState | None = None, day: date | None = None) -> None:
    """R2 and R4; ``kept`` are grants the database holds already (an inert grant is kept, R1), ``current`` the
    database's state before the import and ``day`` the import's day (Europe/Amsterdam).

    R2: a new grant (U, A, P) needs U's organisation, a contract of A for P and, when A is not U's organisation, a
    mandate from A to it that covers P; on ``day`` both must be valid, as a beheerder could tick only A's currently
    contracted products (within the mandate's subset). A grant in ``kept`` is not checked: a lapsed one stays (R1).
    R4: every verified organisation in the file's scope, and every organisation whose accounts or status the import
    changes, has an active beheerder in the state after the import (the database with the file applied), if it has
    accounts.
    """
    st, lines = parsed.state, parsed.lines
    problems: list[Problem] = []
    for (email, afnemer, product) in sorted(st.grants):
        if (email, afnemer, product) in kept:
            continue
        line = lines[("grant", email, afnemer, product)]
        org = st.accounts[email].org
        contract, mandate = st.contracts.get((afnemer, product)), st.mandates.get((afnemer, org or ""))
        if org is None:
            problems.append(Problem(line, f"R2: {email} belongs to no organisation and can hold no grant", path))
        elif contract is None:
            problems.append(Problem(line, f"R2: afnemer {afnemer} has no contract for '{product}', so no "
                                          f"beheerder can grant it", path))
        elif afnemer != org and not (mandate and mandate.covers(product)):
            problems.append(Problem(line, f"R2: {org} ({email}'s organisation) holds no mandate from {afnemer} "
                                          f"covering '{product}'", path))
        elif day is not None and not _valid(contract.valid_from, contract.valid_until, day):
            problems.append(Problem(line, f"R2: the contract of {afnemer} for '{product}' is not valid on "
                                          f"{day.isoformat()}, so no beheerder can grant it now (a grant already "
                                          f"held may stay)", path))
        elif day is not None and mandate is not None and afnemer != org and not _valid(
                mandate.valid_from, mandate.valid_until, day):
            problems.append(Problem(line, f"R2: the mandate from {afnemer} to {org} is not valid on "
                                          f"{day.isoformat()}, so no beheerder can grant '{product}' now", path))
    problems += _r4(parsed, path, current or PolicyState())
    if st.scope is not None:
        problems += _outside_scope(parsed, path)
    if problems:
        raise PolicyFileError(problems)


def _valid(valid_from: date, valid_until: date | None, day: date) -> bool:
    return valid_from <= day and (valid_until is None or day <= valid_until)


def _r4(parsed: Parsed, path: str, current: PolicyState) -> list[Problem]:
    """R4 on the state after the import. Import sets each account of the file to the file's status and roles (it
    refuses every other change to an account), so that state is the database's accounts overlaid with the file's."""
    st, lines = parsed.state, parsed.lines
    orgs, after = {**current.orgs, **st.orgs}, {**current.accounts, **st.accounts}
    touched = {a.org for e, a in st.accounts.items() if a.org is not None and current.accounts.get(e) != a}
    touched |= {k for k, o in st.orgs.items() if current.orgs.get(k) != o}
    checked = touched | ({st.scope} if st.scope is not None else set(st.orgs))
    out = []
    for kvk in sorted(checked):
        o = orgs.get(kvk)
        members = [a for a in after.values() if a.org == kvk]
        if o is not None and o.status == "verified" and members and not any(
                a.status == "active" and "beheerder" in a.roles for a in members):
            out.append(Problem(lines.get(("org", kvk), 1), f"R4: organisation {kvk} has accounts but no active "
                                                            f"beheerder", path))
    return out


def _outside_scope(parsed: Parsed, path: str) -> list[Problem]:
    st, lines, kvk = parsed.state, parsed.lines, parsed.state.scope
    out = [Problem(lines[("contract", *k)], f"contract outside the file's scope {kvk}", path)
           for k in st.contracts if k[0] != kvk and (k[0], kvk) not in st.mandates]
    out += [Problem(lines[("mandate", *k)], f"mandate outside the file's scope {kvk}", path)
            for k in st.mandates if kvk not in k]
    out += [Problem(lines[("grant", *k)], f"grant outside the file's scope {kvk}", path)
            for k in st.grants if st.accounts[k[0]].org != kvk and k[1] != kvk]
    return out
