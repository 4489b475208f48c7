"""Validation reports every problem at once with file, line and step; hostile YAML and
templates stay bounded and execute nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from response import template, yamlfile
from response.actions.registry import action_types
from response.validation import validate_paths, validate_text

BROKEN = """\
id: Bad Id
name: broken
steps:
  - id: a
    action: firewall.block_ip
    with: {ip: '{{ alert.source.ip }}', expires: 12x, bogus: 1}
  - id: b
    action: nope.nope
  - id: c
    action: notify.email
    with:
      subject: '{{ inputs.missing }} {{ steps.zzz.result }}'
      body: 'hi {{ __import__ }}'
  - id: d
    approval: {approvers: {}, ttl: 10q}
"""


def test_every_problem_at_once_with_line_and_step() -> None:
    playbook, issues = validate_text(BROKEN, "broken.yaml", action_types())
    assert playbook is None
    found = {(i.line, i.step, i.message.split(":")[0]) for i in issues}
    text = "\n".join(str(i) for i in issues)
    assert "broken.yaml:1: id: String should match pattern" in text
    assert (
        6,
        "a",
        "firewall.block_ip has no parameter 'bogus'; it takes comment, expires, ip",
    ) in {(i.line, i.step, i.message) for i in issues}
    assert any(line == 6 and step == "a" and msg == "expires" for line, step, msg in found)
    assert any(
        i.line == 8 and i.step == "b" and "unknown action 'nope.nope'" in i.message for i in issues
    )
    assert any(i.step == "c" and "no input 'missing'" in i.message for i in issues)
    assert any(i.step == "c" and "no earlier step 'zzz'" in i.message for i in issues)
    assert any(i.step == "c" and "__import__" in i.message for i in issues)
    assert any(i.step == "c" and "needs parameter 'to'" in i.message for i in issues)
    assert any(i.line == 15 and i.step == "d" and "at least one role" in i.message for i in issues)
    assert any(
        i.line == 15 and i.step == "d" and "'10q' is not a duration" in i.message for i in issues
    )
    assert len(issues) == 10


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id: x\nname: y\nsteps: [\n", 4, "not valid YAML"),
        ("id: x\nid: y\n", 2, "appears twice"),
        ("- just\n- a list\n", 1, "a playbook is a mapping"),
        ("a: !!python/object/apply:os.system ['true']\n", 1, "not valid YAML"),
        ("", 1, "empty document"),
        ("a: &a [*a]\n", 1, "a recursive alias"),
        ("\x08", None, "not valid YAML"),
    ],
)
def test_bad_yaml(text: str, line: int, message: str) -> None:
    _, issues = validate_text(text, "f.yaml", action_types())
    assert issues and issues[0].line == line and message in issues[0].message


def test_alias_bombs_stop_at_the_budget() -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
    )
    with pytest.raises(yamlfile.YamlProblem, match="more than"):
        yamlfile.load(bomb)


def test_duplicate_ids_across_a_folder(tmp_path: Path) -> None:
    body = "name: n\nsteps: [{id: s, action: wait, with: {seconds: 1}}]\n"
    (tmp_path / "one.yaml").write_text("id: same\n" + body)
    (tmp_path / "two.yaml").write_text("id: same\n" + body)
    loaded, issues = validate_paths([tmp_path], action_types())
    assert len(loaded) == 1 and "also used by" in issues[0].message


def test_templates_are_paths_into_plain_data_only() -> None:
    context = {"alert": {"source": {"ip": "192.0.2.1"}, "tags": ["a", "b"]}, "item": None}
    assert template.render("{{ alert.source.ip }}", context) == "192.0.2.1"
    assert template.render("{{ alert.tags }}", context) == ["a", "b"]  # a list stays a list
    assert template.render("ip={{ alert.source.ip }} t={{ alert.tags }}", context) == (
        'ip=192.0.2.1 t=["a", "b"]'
    )
    assert template.render("{{ alert.tags.1 }}", context) == "b"
    assert template.render("x{{ alert.nothing.here }}y", context) == "xy"
    # Attributes are never read: only mapping keys and list indexes.
    assert template.render("{{ alert.__class__.__mro__ }}", {"alert": object()}) is None
    assert template.render("{{ alert.source.__class__ }}", context) is None
    with pytest.raises(template.TemplateError):
        template.render("{{ os.system('id') }}", context)
    assert template.check("{{ alert.source.ip }") == [
        "unbalanced braces in template '{{ alert.source.ip }'"
    ]


def test_rendered_output_is_bounded() -> None:
    big = {"alert": {"m": "x" * 40_000}}
    with pytest.raises(template.TemplateError, match="more than"):
        template.render("{{ alert.m }}{{ alert.m }}", big)


def test_a_condition_without_a_test_is_a_problem() -> None:
    text = "id: x\nname: y\nsteps:\n  - id: a\n    action: wait\n    with: {seconds: 1}\n" + (
        "    when:\n      - value: '{{ alert.severity }}'\n"
    )
    _, issues = validate_text(text, "f.yaml", action_types())
    assert [(i.line, i.step) for i in issues] == [(8, "a")]
    assert "a condition needs a test" in issues[0].message


def test_approvers_must_be_real_roles() -> None:
    from api.app.auth.roles import PEOPLE
    from response.schema import PERSON_ROLES

    assert set(PERSON_ROLES) == {r.value for r in PEOPLE}
    text = (
        "id: x\nname: y\nsteps:\n  - id: ok\n    approval:\n"
        "      approvers: {roles: [responders, admin]}\n"
    )
    _, issues = validate_text(text, "f.yaml", action_types())
    assert [(i.line, i.step) for i in issues] == [(6, "ok")]
    assert "no role 'responders'" in issues[0].message
