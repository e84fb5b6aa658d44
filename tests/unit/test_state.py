"""gateway/state.py: the letter's life as a table, walked whole."""

from __future__ import annotations

import itertools

import pytest

from gateway.errors import IllegalTransition
from gateway.state import (
    AWAITING_CLERK,
    REGISTRABLE,
    TRANSITIONS,
    Event,
    LetterState,
    advance,
    reachable,
    transition,
)


@pytest.mark.parametrize(("pair", "row"), TRANSITIONS.items(),
                         ids=[f"{s}-{e}" for s, e in TRANSITIONS])
def test_every_transition_of_the_table(pair: tuple[LetterState, Event], row: object) -> None:
    state, event = pair
    assert transition(state, event) == row
    assert advance(state.value, event) == row.to  # type: ignore[attr-defined]  # the stored string works too


def test_every_pair_not_in_the_table_is_illegal() -> None:
    illegal = [(s, e) for s, e in itertools.product(LetterState, Event) if (s, e) not in TRANSITIONS]
    assert illegal  # the table is not total
    for s, e in illegal:
        with pytest.raises(IllegalTransition) as exc:
            advance(s, e)
        assert exc.value.state == s.value and exc.value.event == e.value


def test_an_unknown_state_string_is_illegal_not_a_crash() -> None:
    with pytest.raises(IllegalTransition):
        advance("stamped", Event.READ_REGISTER)


def test_every_state_is_reachable_and_every_event_used() -> None:
    assert reachable() == set(LetterState)
    assert {e for _, e in TRANSITIONS} == set(Event)


def test_final_states_stay_final_and_the_clerk_decides_only_waiting_letters() -> None:
    final = {LetterState.REJECTED, LetterState.DUPLICATE,
             LetterState.NOT_LETTER, LetterState.QUEUED, LetterState.ANSWERED, LetterState.REFUSED}
    assert not [pair for pair in TRANSITIONS if pair[0] in final]
    rejects = {s for s, e in TRANSITIONS if e is Event.CLERK_REJECTS}
    assert rejects == AWAITING_CLERK
    registers = {s for s, e in TRANSITIONS if e is Event.CLERK_REGISTERS}
    assert registers == REGISTRABLE == AWAITING_CLERK | {LetterState.CANCELLED}


def test_a_registered_letter_leaves_registered_only_by_a_cancel_and_comes_back_renumbered() -> None:
    assert [e for s, e in TRANSITIONS if s is LetterState.REGISTERED] == [Event.CLERK_CANCELS]
    assert advance(LetterState.REGISTERED, Event.CLERK_CANCELS) is LetterState.CANCELLED
    again = transition(LetterState.CANCELLED, Event.CLERK_REGISTERS)
    assert again.to is LetterState.REGISTERED and "number" in again.effects


def test_a_letter_is_numbered_only_on_the_way_into_registered() -> None:
    for (_, _), row in TRANSITIONS.items():
        assert ("number" in row.effects) == (row.to in {LetterState.REGISTERED, LetterState.QUEUED})
