"""The pure rules of authz.domain: the validity window, mandate coverage, R1 for one grant, R2, R4 and R9."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authz.domain import beheerders as r4
from authz.domain.access import Reason, stage
from authz.domain.grants import Refusal, change, check_ticks, inert, offer, refusal
from authz.domain.state import Acct, Contr, Mand
from authz.domain.window import LAPSED, OPEN_END, check_dates, covers, holds, in_span, span, well_formed
from authz.errors import Conflict, Invalid
from authz.policy import day_in_window, window

D = date(2026, 6, 15)
ORG, AFNEMER, OTHER = "10000001", "10000002", "10000003"

days = st.dates(min_value=date(1, 1, 2), max_value=date(9999, 12, 20))
near = st.integers(-3, 3).map(lambda n: D + timedelta(days=n))  # days around D: boundaries come up often
some_days = near | days


@st.composite
def windows(draw: st.DrawFn) -> tuple[date, date | None]:
    start = draw(some_days)
    end = draw(st.none() | st.integers(0, 4).map(lambda n: start + timedelta(days=n)) | days.filter(
        lambda d: d >= start))
    return start, end


# -- the validity window -----------------------------------------------------------------------------------------

def test_a_window_holds_from_its_first_to_its_last_day_inclusive() -> None:
    assert not holds(D, D + timedelta(days=2), D - timedelta(days=1))
    assert holds(D, D + timedelta(days=2), D)
    assert holds(D, D + timedelta(days=2), D + timedelta(days=2))
    assert not holds(D, D + timedelta(days=2), D + timedelta(days=3))


def test_an_open_window_holds_from_its_first_day_on() -> None:
    assert holds(D, None, date.max)
    assert not holds(D, None, D - timedelta(days=1))
    assert span(D, None) == (D.toordinal(), OPEN_END)


def test_a_one_day_window_holds_on_that_day_only() -> None:
    assert [holds(D, D, D + timedelta(days=n)) for n in (-1, 0, 1)] == [False, True, False]


def test_the_span_of_iso_texts_is_the_span_of_the_days() -> None:
    assert span("2026-06-15", "2026-06-30") == span(D, date(2026, 6, 30))
    assert span("2026-06-15", None) == span(D, None)


def test_the_lapsed_span_contains_no_day() -> None:
    assert not any(in_span(LAPSED, d) for d in (0, 1, D.toordinal(), OPEN_END))


@given(w=windows(), day=some_days)
def test_holds_is_from_le_day_le_until(w: tuple[date, date | None], day: date) -> None:
    start, end = w
    assert holds(start, end, day) == (start <= day and (end is None or day <= end))


def test_a_window_may_not_end_before_it_starts() -> None:
    assert well_formed(D, D) and well_formed(D, None) and not well_formed(D, D - timedelta(days=1))
    check_dates(D, D)
    check_dates(D, None)
    with pytest.raises(Invalid) as e:
        check_dates(D, D - timedelta(days=1))
    assert e.value.code == "invalid_dates"


@given(w=windows(), day=some_days)
def test_casbins_window_matching_is_the_same_rule(w: tuple[date, date | None], day: date) -> None:
    assert day_in_window(day.isoformat(), window(*w)) == holds(*w, day)


def test_casbins_window_matching_refuses_what_is_no_window() -> None:
    assert not day_in_window(D.isoformat(), D.isoformat())
    assert not day_in_window(D.isoformat(), "*")


# -- mandate coverage --------------------------------------------------------------------------------------------

def test_a_mandate_without_a_product_list_covers_every_product() -> None:
    assert covers(None, "polisadministratie")


def test_a_mandate_with_a_product_list_covers_only_those() -> None:
    assert covers(("loongegevens", "polisadministratie"), "polisadministratie")
    assert not covers(("loongegevens",), "polisadministratie")
    assert not covers((), "polisadministratie")


# -- R1 for one grant: the decider's hot path ------------------------------------------------------------------------

products = st.sampled_from(["pa", "pb", "pc"])
subsets = st.none() | st.frozensets(products)


@given(contract=windows(), mandate=st.none() | st.tuples(windows(), subsets), product=products, day=some_days)
def test_the_stage_of_a_grant_is_the_window_then_the_mandate(
        contract: tuple[date, date | None], mandate: tuple[tuple[date, date | None], frozenset[str] | None] | None,
        product: str, day: date) -> None:
    terms = None if mandate is None else (*span(*mandate[0]), mandate[1])
    got = stage(span(*contract), terms, product, day.toordinal())
    if not holds(*contract, day):
        assert got is Reason.NO_CONTRACT
    elif mandate is not None and not (holds(*mandate[0], day) and covers(mandate[1], product)):
        assert got is Reason.NO_MANDATE
    else:
        assert got is Reason.GRANTED


def test_a_lapsed_contract_or_mandate_gives_nothing() -> None:
    today = D.toordinal()
    assert stage(LAPSED, None, "pa", today) is Reason.NO_CONTRACT
    assert stage(span(D, None), (*LAPSED, None), "pa", today) is Reason.NO_MANDATE


# -- R2: what may be offered and ticked ------------------------------------------------------------------------------

def contract(afnemer: str, product: str, start: date = D, end: date | None = None) -> Contr:
    return Contr(afnemer, product, start, end)


def mandate(afnemer: str, products: tuple[str, ...] | None = None, start: date = D, end: date | None = None,
            intermediair: str = ORG) -> Mand:
    return Mand(afnemer, intermediair, start, end, products)


def test_the_own_organisation_is_offered_its_currently_contracted_products() -> None:
    contracts = [contract(ORG, "pb"), contract(ORG, "pa"), contract(ORG, "pc", D - timedelta(days=9), D - timedelta(
        days=1)), contract(AFNEMER, "pa")]
    assert offer(ORG, contracts, [], D) == {ORG: ["pa", "pb"]}


def test_an_organisation_without_current_contracts_is_not_offered_itself() -> None:
    assert offer(ORG, [contract(ORG, "pa", D + timedelta(days=1))], [], D) == {}


def test_an_afnemer_is_offered_within_a_valid_mandate_only() -> None:
    contracts = [contract(AFNEMER, "pa"), contract(AFNEMER, "pb"), contract(OTHER, "pa")]
    mandates = [mandate(AFNEMER, ("pa",)), mandate(OTHER, end=D - timedelta(days=1))]
    assert offer(ORG, contracts, mandates, D) == {AFNEMER: ["pa"]}


def test_a_valid_mandate_is_offered_even_without_products() -> None:
    assert offer(ORG, [], [mandate(AFNEMER)], D) == {AFNEMER: []}


def test_mandates_held_by_another_organisation_are_not_offered() -> None:
    assert offer(ORG, [contract(AFNEMER, "pa")], [mandate(AFNEMER, intermediair=OTHER)], D) == {}


def test_the_own_organisation_comes_first_then_the_afnemers_in_order() -> None:
    contracts = [contract(ORG, "pa"), contract(AFNEMER, "pa"), contract(OTHER, "pa")]
    assert list(offer(ORG, contracts, [mandate(OTHER), mandate(AFNEMER)], D)) == [ORG, AFNEMER, OTHER]


@pytest.mark.parametrize(("org", "afnemer", "c", "m", "want"), [
    (None, ORG, contract(ORG, "pa"), None, Refusal.NO_ORGANISATION),
    (ORG, ORG, None, None, Refusal.NO_CONTRACT),
    (ORG, AFNEMER, contract(AFNEMER, "pa"), None, Refusal.NO_MANDATE),
    (ORG, AFNEMER, contract(AFNEMER, "pa"), mandate(AFNEMER, ("pb",)), Refusal.NO_MANDATE),
    (ORG, ORG, contract(ORG, "pa", D + timedelta(days=1)), None, Refusal.CONTRACT_NOT_VALID),
    (ORG, AFNEMER, contract(AFNEMER, "pa"), mandate(AFNEMER, end=D - timedelta(days=1)), Refusal.MANDATE_NOT_VALID),
    (ORG, AFNEMER, contract(AFNEMER, "pa"), mandate(AFNEMER, ("pa",)), None),
    (ORG, ORG, contract(ORG, "pa", D, D), mandate(ORG, end=D - timedelta(days=1)), None),  # own: no mandate needed
])
def test_why_a_product_may_not_be_ticked(org: str | None, afnemer: str, c: Contr | None, m: Mand | None,
                                         want: Refusal | None) -> None:
    assert refusal(org, afnemer, "pa", c, m, D) == want


@given(c=windows(), m=st.none() | st.tuples(windows(), subsets), product=products, day=some_days)
def test_what_may_be_ticked_is_what_a_grant_would_give(
        c: tuple[date, date | None], m: tuple[tuple[date, date | None], frozenset[str] | None] | None, product: str,
        day: date) -> None:
    terms = None if m is None else (*span(*m[0]), m[1])
    given_mandate = None if m is None else mandate(AFNEMER, tuple(sorted(m[1])) if m[1] is not None else None, *m[0])
    allowed = refusal(ORG, AFNEMER, product, contract(AFNEMER, product, *c), given_mandate, day) is None
    assert allowed == (m is not None and stage(span(*c), terms, product, day.toordinal()) is Reason.GRANTED)


def test_a_save_may_keep_held_grants_but_add_only_what_is_offered() -> None:
    offered = {ORG: ["pa"], AFNEMER: ["pb"]}
    check_ticks(offered, ORG, AFNEMER, ["pb", "pc"], ["pc"])  # pc is held (inert): it may stay
    with pytest.raises(Invalid) as e:
        check_ticks(offered, ORG, AFNEMER, ["pb", "pa"], [])
    assert e.value.code == "not_selectable"


def test_a_save_for_an_afnemer_without_a_valid_mandate_is_refused_unless_grants_are_held() -> None:
    with pytest.raises(Invalid) as e:
        check_ticks({ORG: ["pa"]}, ORG, OTHER, [], [])
    assert e.value.code == "afnemer_not_selectable"
    check_ticks({ORG: ["pa"]}, ORG, OTHER, [], ["pa"])  # removing an inert grant
    check_ticks({}, ORG, ORG, [], [])  # the own organisation is always selectable, even with nothing on offer


def test_inert_grants_are_held_but_no_longer_offered() -> None:
    assert inert({ORG: ["pa", "pb"], AFNEMER: ["pa"]}, {ORG: ["pa"]}) == {ORG: ["pb"], AFNEMER: ["pa"]}
    assert inert({ORG: ["pa"]}, {ORG: ["pa"]}) == {}


# -- R9: the change of a ticked set ------------------------------------------------------------------------------

def test_a_change_lists_what_was_added_and_removed_sorted() -> None:
    assert change(["pb", "pa"], ["pc", "pa", "pd"]) == (["pc", "pd"], ["pb"])
    assert change(["pa"], ["pa"]) == ([], [])


@given(held=st.frozensets(products), wanted=st.frozensets(products))
def test_applying_a_change_gives_the_wanted_set(held: frozenset[str], wanted: frozenset[str]) -> None:
    added, removed = change(held, wanted)
    assert (set(held) | set(added)) - set(removed) == set(wanted)
    assert not set(added) & set(held) and set(removed) <= set(held)


# -- R4: always an active beheerder --------------------------------------------------------------------------------

def acct(email: str, status: str = "active", roles: tuple[str, ...] = ("beheerder",)) -> Acct:
    return Acct(email, "", ORG, status, roles)


def test_only_active_accounts_with_the_role_count_as_beheerder() -> None:
    members = [acct("b@x.nl"), acct("a@x.nl"), acct("i@x.nl", "inactive"), acct("p@x.nl", "approved"),
               acct("u@x.nl", roles=())]
    assert r4.active(members) == ["a@x.nl", "b@x.nl"]


def test_a_verified_organisation_with_accounts_lacks_a_beheerder_without_an_active_one() -> None:
    assert r4.lacking(True, [acct("u@x.nl", roles=()), acct("i@x.nl", "inactive")])
    assert not r4.lacking(True, [acct("u@x.nl", roles=()), acct("b@x.nl")])
    assert not r4.lacking(True, [])  # no accounts: nothing to manage
    assert not r4.lacking(False, [acct("u@x.nl", roles=())])  # pending: the operator first verifies it


def test_a_sole_beheerder_is_advised_to_appoint_a_second() -> None:
    assert r4.alone(["b@x.nl"])
    assert not r4.alone(["a@x.nl", "b@x.nl"])


def test_the_last_active_beheerder_cannot_leave() -> None:
    with pytest.raises(Conflict) as e:
        r4.check_change(["b@x.nl"], [], "b@x.nl")
    assert e.value.code == "last_beheerder"
    r4.check_change(["a@x.nl", "b@x.nl"], ["a@x.nl"], "b@x.nl")
    r4.check_change([], [], "u@x.nl")  # no beheerder to lose (the operator's way out of a lost one)
