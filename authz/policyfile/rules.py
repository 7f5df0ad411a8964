"""The rules a policy file must keep before it is imported (R2, R4), checked over the file as a whole."""

from __future__ import annotations

from collections.abc import Collection

from authz.policyfile.parse import Parsed, PolicyFileError, Problem


def check_rules(parsed: Parsed, path: str, kept: Collection[tuple[str, str, str]] = ()) -> None:
    """R2 and R4 over the whole file; ``kept`` are grants the database holds already (an inert grant is kept, R1).

    R2: a grant (U, A, P) needs U's organisation, a contract of A for P, and, when A is not U's organisation, a
    mandate from A to it that covers P (the validity dates are not checked: a lapsed grant is kept, R1). R4: every
    verified organisation with accounts in the file has an active beheerder.
    """
    st, lines = parsed.state, parsed.lines
    problems: list[Problem] = []
    for (email, afnemer, product) in sorted(st.grants):
        if (email, afnemer, product) in kept:
            continue
        line = lines[("grant", email, afnemer, product)]
        org = st.accounts[email].org
        if org is None:
            problems.append(Problem(line, f"R2: {email} belongs to no organisation and can hold no grant", path))
        elif (afnemer, product) not in st.contracts:
            problems.append(Problem(line, f"R2: afnemer {afnemer} has no contract for '{product}', so no "
                                          f"beheerder can grant it", path))
        elif afnemer != org and not ((m := st.mandates.get((afnemer, org))) and m.covers(product)):
            problems.append(Problem(line, f"R2: {org} ({email}'s organisation) holds no mandate from {afnemer} "
                                          f"covering '{product}'", path))
    scope = [st.scope] if st.scope is not None else sorted(st.orgs)
    for kvk in scope:
        o = st.orgs.get(kvk)
        members = [a for a in st.accounts.values() if a.org == kvk]
        if o is not None and o.status == "verified" and members and not any(
                a.status == "active" and "beheerder" in a.roles for a in members):
            problems.append(Problem(lines[("org", kvk)], f"R4: organisation {kvk} has accounts but no active "
                                                         f"beheerder", path))
    if st.scope is not None:
        problems += _outside_scope(parsed, path)
    if problems:
        raise PolicyFileError(problems)


def _outside_scope(parsed: Parsed, path: str) -> list[Problem]:
    st, lines, kvk = parsed.state, parsed.lines, parsed.state.scope
    out = [Problem(lines[("contract", *k)], f"contract outside the file's scope {kvk}", path)
           for k in st.contracts if k[0] != kvk and (k[0], kvk) not in st.mandates]
    out += [Problem(lines[("mandate", *k)], f"mandate outside the file's scope {kvk}", path)
            for k in st.mandates if kvk not in k]
    out += [Problem(lines[("grant", *k)], f"grant outside the file's scope {kvk}", path)
            for k in st.grants if st.accounts[k[0]].org != kvk and k[1] != kvk]
    return out
