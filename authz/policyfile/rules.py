"""The rules a policy file must keep before it is imported (R2, R4), checked over the file and the state after it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from authz.domain.beheerders import lacking
from authz.domain.grants import Refusal, refusal
from authz.domain.state import PolicyState
from authz.policyfile.parse import Parsed, PolicyFileError, Problem


def check_rules(parsed: Parsed, path: str, kept: Collection[tuple[str, str, str]], current: PolicyState,
                day: date) -> None:
    """R2 and R4; ``kept`` are grants the database holds already (an inert grant is kept, R1), ``current`` the
    database's state before the import and ``day`` the import's day (Europe/Amsterdam).

    R2 (:func:`authz.domain.grants.refusal`): a new grant (U, A, P) must be one a beheerder could tick on ``day``:
    A's currently contracted products, within the mandate from A to U's organisation when A is not U's
    organisation. A grant in ``kept`` is not checked: a lapsed one stays (R1).
    R4 (:func:`authz.domain.beheerders.lacking`): every verified organisation in the file's scope, and every
    organisation whose accounts or status the import changes, has an active beheerder in the state after the
    import (the database with the file applied), if it has accounts.
    """
    st, lines = parsed.state, parsed.lines
    problems: list[Problem] = []
    for (email, afnemer, product) in sorted(st.grants):
        if (email, afnemer, product) in kept:
            continue
        org = st.accounts[email].org
        why = refusal(org, afnemer, product, st.contracts.get((afnemer, product)),
                      st.mandates.get((afnemer, org or "")), day)
        if why is not None:
            problems.append(Problem(lines[("grant", email, afnemer, product)],
                                    _R2[why].format(email=email, afnemer=afnemer, product=product, org=org,
                                                    day=day.isoformat()), path))
    problems += _r4(parsed, path, current)
    if st.scope is not None:
        problems += _outside_scope(parsed, path)
    if problems:
        raise PolicyFileError(problems)


_R2 = {
    Refusal.NO_ORGANISATION: "R2: {email} belongs to no organisation and can hold no grant",
    Refusal.NO_CONTRACT: "R2: afnemer {afnemer} has no contract for '{product}', so no beheerder can grant it",
    Refusal.NO_MANDATE: "R2: {org} ({email}'s organisation) holds no mandate from {afnemer} covering '{product}'",
    Refusal.CONTRACT_NOT_VALID: "R2: the contract of {afnemer} for '{product}' is not valid on {day}, so no "
                                "beheerder can grant it now (a grant already held may stay)",
    Refusal.MANDATE_NOT_VALID: "R2: the mandate from {afnemer} to {org} is not valid on {day}, so no beheerder can "
                               "grant '{product}' now",
}


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
        if o is not None and lacking(o.status == "verified", [a for a in after.values() if a.org == kvk]):
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
