"""Scoring a family: both checkers on every case, agreement with the suite, a printed table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from x509_cases import Case, cryptography_alone, ours


@dataclass
class Score:
    cases: Counter[str] = field(default_factory=Counter)
    ours: Counter[str] = field(default_factory=Counter)
    cryptography: Counter[str] = field(default_factory=Counter)
    ours_only: list[str] = field(default_factory=list)  # we agree with the suite, it does not
    cryptography_only: list[str] = field(default_factory=list)

    def add(self, case: Case) -> None:
        mine = ours(case) == case.expect_valid
        theirs = cryptography_alone(case) == case.expect_valid
        self.cases[case.family] += 1
        self.ours[case.family] += mine
        self.cryptography[case.family] += theirs
        if mine and not theirs:
            self.ours_only.append(case.id)
        elif theirs and not mine:
            self.cryptography_only.append(case.id)

    def table(self, title: str) -> str:
        rows = [f"{title}: agreement with the suite (ours / cryptography alone / cases)"]
        for family in sorted(self.cases):
            rows.append(
                f"  {family:<18} {self.ours[family]:>4} / {self.cryptography[family]:>4} "
                f"/ {self.cases[family]:>4}"
            )
        total = sum(self.cases.values())
        rows.append(
            f"  {'all':<18} {sum(self.ours.values()):>4} / {sum(self.cryptography.values()):>4} "
            f"/ {total:>4}"
        )
        return "\n".join(rows)


def score(cases: Iterable[Case]) -> Score:
    result = Score()
    for case in cases:
        result.add(case)
    return result
