"""Fixtures of the ``weight-init`` judge: the homework's rules, checked on the source text.

``rule_guard(*functions)`` fails the calling test (AssertionError, Russian, naming the rule)
if the submission breaks a rule where it concerns ``functions``: inside them, inside any
top-level function or class they may run, or in module-level code. The rules are the
framework's allow-list and deny-list (``grading.rules``) plus the homework's own check for
every spelling of ``torch.nn.init`` (:func:`init_judge.nn_init_violations`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from init_judge import RuleGuard, first_violation_message, nn_init_violations, protected_violations

MODULE_FILE = "weight_init.py"


def homework_rules() -> Any:
    """The framework's rule set for this homework (allowed imports; forbidden call targets)."""
    from grading.rules import RuleSet

    return RuleSet(
        allowed_imports={"__future__": None, "math": None, "warnings": None, "torch": None, "typing": None,
                         "collections.abc": None},
        forbidden_calls=("torch.nn.init",),
        rule_name="нельзя пользоваться torch.nn.init",
    )


@pytest.fixture(scope="session")
def rule_guard(submission_source: Mapping[str, str], rule_violations: Callable[[Any], list[Any]]) -> RuleGuard:
    """A callable ``guard(*functions)`` that fails the test on a violation concerning them."""
    source = submission_source.get(MODULE_FILE)
    if source is None:
        def unreadable(*functions: str) -> None:
            raise AssertionError(f"{MODULE_FILE} нет в решении или он не в кодировке UTF-8: правила не проверить")

        return unreadable
    violations = [*rule_violations(homework_rules()), *nn_init_violations(source)]

    def guard(*functions: str) -> None:
        hits = protected_violations(source, violations, functions)
        if hits:
            raise AssertionError(first_violation_message(hits))

    return guard
