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
from grading.rules import DEFAULT_ALLOWED_IMPORTS, RuleSet
from init_judge import (
    NN_INIT_ONLY,
    RULE_NAME,
    RuleGuard,
    first_violation_message,
    nn_init_violations,
    protected_violations,
)

MODULE_FILE = "weight_init.py"


def homework_rules() -> RuleSet:
    """The framework's rules for this homework: the default allowed imports plus ``warnings``
    (the statement's ``kaiming_*_`` warn on empty tensors); ``torch.nn.init`` and every name
    only it defines forbidden, as a dotted name and as an attribute of anything."""
    rule = {name: RULE_NAME for name in sorted(NN_INIT_ONLY | {"init"})}
    return RuleSet(
        allowed_imports=DEFAULT_ALLOWED_IMPORTS | {"warnings"},
        forbidden={"torch.nn.init": RULE_NAME},
        forbidden_attributes=rule,
    )


RULES = homework_rules()


@pytest.fixture(scope="session")
def rule_guard(submission_source: Mapping[str, str], rule_violations: Callable[[RuleSet], list[Any]]) -> RuleGuard:
    """A callable ``guard(*functions)`` that fails the test on a violation concerning them."""
    source = submission_source.get(MODULE_FILE)
    if source is None:
        def unreadable(*functions: str) -> None:
            raise AssertionError(f"{MODULE_FILE} нет в решении или он не в кодировке UTF-8: правила не проверить")

        return unreadable
    violations = [*rule_violations(RULES), *nn_init_violations(source)]

    def guard(*functions: str) -> None:
        hits = protected_violations(source, violations, functions)
        if hits:
            raise AssertionError(first_violation_message(hits))

    return guard
