"""Hostile playbooks and templates: whatever the text, validation answers with problems (never
an exception) and rendering with a value or a ``TemplateError``."""

from __future__ import annotations

import contextlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from response import template
from response.actions.registry import action_types
from response.validation import validate_text

EXAMPLES = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None)
ACTIONS = action_types()
PIECES = [
    "id: x\n",
    "name: y\n",
    "steps:\n",
    "  - id: a\n",
    "    action: firewall.block_ip\n",
    "    with: {ip: '{{ alert.source.ip }}'}\n",
    "    approval: {approvers: {roles: [a]}}\n",
    "&a [*a]\n",
    "!!python/name:os.system\n",
    "{{",
    "}}",
    "- ",
    ": ",
    "\t",
    "'",
    '"',
    "\n",
]


@EXAMPLES
@given(st.text(max_size=400))
def test_validation_of_any_text_reports_problems(text: str) -> None:
    playbook, issues = validate_text(text, "f.yaml", ACTIONS)
    assert (playbook is None) == bool(issues)
    for issue in issues:
        assert issue.file == "f.yaml" and issue.message


@EXAMPLES
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_validation_of_yaml_like_text_reports_problems(text: str) -> None:
    playbook, issues = validate_text(text, "f.yaml", ACTIONS)
    assert (playbook is None) == bool(issues)


@EXAMPLES
@given(
    st.text(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    ),
)
def test_rendering_any_template_is_a_value_or_a_template_error(text: str, data: object) -> None:
    context = {"alert": data, "inputs": {"x": data}, "item": data}
    with contextlib.suppress(template.TemplateError):
        template.render(text, context)
    template.check(text)
