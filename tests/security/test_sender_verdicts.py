"""What a sender's authentication verdict does to a letter (issue #18): the classification
table's row "sender not authenticated", as data. One case = one row: the verdict, the mode,
and what the letter must become. Pure: no DNS here (the verdict is what the intake wrote)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.core.classify import Facts, Outcome, Policy, auth_remark, classify
from gateway.trust import AuthResult, SenderAuth
from tests.unit.test_decide import FULL, POLICY, reading

MONITOR = replace(POLICY, auth_enforce=False)
NONE_REVIEW = replace(POLICY, auth_none_review=True)

SPOOF = SenderAuth(AuthResult.FAIL, "moi.go.th", spf="fail", dkim="none", dmarc="fail",
                   dmarc_policy="reject",
                   reasons_th=("SPF ไม่ผ่าน: 203.0.113.9 ไม่ได้รับอนุญาตให้ส่งในนาม moi.go.th",))
PASS = SenderAuth(AuthResult.PASS, "moi.go.th", spf="pass", dkim="pass", dkim_domains=("moi.go.th",),
                  dmarc="pass")
NONE = SenderAuth(AuthResult.NONE, "small-school.ac.th")
DNS_DOWN = SenderAuth(AuthResult.TEMPERROR, "moi.go.th", dmarc="temperror")

# (case, verdict, policy, outcome, problem codes)
CASES = [
    ("passing government sender registers", PASS, POLICY, Outcome.REGISTER, set()),
    ("forged government sender waits for the clerk", SPOOF, POLICY, Outcome.REVIEW,
     {"sender_auth_failed"}),
    ("DNS down is never a pass", DNS_DOWN, POLICY, Outcome.REVIEW, {"sender_auth_temperror"}),
    ("no records: a remark only, by default", NONE, POLICY, Outcome.REGISTER, set()),
    ("no records: review when configured", NONE, NONE_REVIEW, Outcome.REVIEW, {"sender_auth_none"}),
    ("monitor mode: a failure is a remark", SPOOF, MONITOR, Outcome.REGISTER, set()),
    ("monitor mode: DNS down is a remark", DNS_DOWN, MONITOR, Outcome.REGISTER, set()),
    ("not checked (a clerk's import)", None, POLICY, Outcome.REGISTER, set()),
]


@pytest.mark.parametrize(("verdict", "policy", "outcome", "codes"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict_decides(verdict: SenderAuth | None, policy: Policy, outcome: Outcome,
                         codes: set[str]) -> None:
    d = classify(Facts(reading(), (), policy, "", auth=verdict))
    assert d.outcome is outcome
    assert {p.code for p in d.problems} == codes
    if codes:  # the clerk reads what failed, in Thai
        assert all(p.reason_th for p in d.problems)
    if outcome is Outcome.REVIEW:
        assert d.acknowledge_to is None


def test_failure_reason_names_what_failed() -> None:
    d = classify(Facts(reading(), (), POLICY, "", auth=SPOOF))
    (p,) = d.problems
    assert "moi.go.th" in p.reason_th and "SPF ไม่ผ่าน" in p.reason_th


def test_other_problems_are_kept_beside_the_failure() -> None:
    from gateway.core.classify import validate
    r = reading(fields=replace(FULL, letter_no=None))
    d = classify(Facts(r, validate(r, POLICY), POLICY, "", auth=SPOOF))
    assert {p.code for p in d.problems} == {"missing_letter_no", "sender_auth_failed"}


def test_secret_letter_stays_restricted_whatever_the_verdict() -> None:
    from gateway.core.classify import validate
    from gateway.letter import Field, FieldSource, Secrecy
    r = reading(fields=replace(FULL, secrecy=Field(Secrecy.SECRET, FieldSource.PDF)))
    assert classify(Facts(r, validate(r, POLICY), POLICY, "", auth=SPOOF)).outcome is Outcome.RESTRICTED


@pytest.mark.parametrize(("verdict", "words"), [
    (PASS, ["ผ่าน", "moi.go.th"]), (SPOOF, ["ไม่ผ่าน", "SPF ไม่ผ่าน"]),
    (NONE, ["ไม่ได้ประกาศ", "small-school.ac.th"]), (DNS_DOWN, ["DNS"]),
])
def test_register_remark_says_the_verdict(verdict: SenderAuth, words: list[str]) -> None:
    line = auth_remark(verdict)
    assert all(w in line for w in words)
