"""Policy documents: whatever an author uploads, the loader answers a Policy or a PolicyError listing problems
with a path; nothing else escapes (found before: YAML aliases, impossible dates, deep nesting)."""

import copy
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from hub.attendance.policy import Policy, PolicyError, load_policy
from tests.fuzz.fuzzkit import budget, json_values
from tests.hub.attendance_kit import preset_text

PRESET: dict[str, Any] = yaml.safe_load(preset_text())


def _check(text: str, fmt: str = "yaml") -> PolicyError | None:
    try:
        policy: Policy | None = load_policy(text, fmt)  # type: ignore[arg-type]
        caught = None
    except PolicyError as error:
        policy, caught = None, error
    if caught is None:
        assert isinstance(policy, Policy)
        return None
    assert caught.problems
    for problem in caught.problems:
        assert isinstance(problem.path, str)
        assert problem.message
    return caught


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(PRESET)


@st.composite
def mutated_preset(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The shipped preset with one node replaced by an arbitrary value."""
    document = copy.deepcopy(PRESET)
    path = draw(st.sampled_from(PATHS))
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = draw(json_values)
    return document, path


@budget(150)
@given(mutated=mutated_preset())
def test_a_mutated_preset_is_a_policy_or_errors_with_field_paths(
    mutated: tuple[dict[str, Any], tuple[Any, ...]],
) -> None:
    document, _path = mutated
    error = _check(yaml.safe_dump(document, allow_unicode=True))
    if error is not None:
        assert any(problem.path for problem in error.problems), error  # a field error names its field


@budget(150)
@given(text=st.text(max_size=300))
@example("id: x\neffective_from: 2026-02-30\n")  # an impossible date raised ValueError
@example("a: &x [*x]\n")  # a self-referencing alias recursed forever
@example("a: &a [1, 1, 1]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n")  # alias expansion (billion laughs)
@example("a: " + "[" * 3000 + "]" * 3000)  # nesting beyond Python's recursion limit
@example("a: !!python/object/apply:os.system [echo]\n")
@example("effective_from: 2026-01-01T25:61:00\n")
@example("\x00")
def test_any_yaml_text_is_a_policy_or_a_policy_error(text: str) -> None:
    _check(text)


@budget(100)
@given(text=st.text(max_size=300))
@example("effective_from = 2026-02-30\n")
@example("a = " + "[" * 3000 + "]" * 3000)
def test_any_toml_text_is_a_policy_or_a_policy_error(text: str) -> None:
    _check(text, "toml")


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "id: x\neffective_from: 2026-02-30\n"])
def test_regressions_name_the_problem(text: str) -> None:
    error = _check(text)
    assert error is not None
    assert "alias" in str(error) or "out of range" in str(error)


def test_the_preset_itself_loads() -> None:
    assert _check(preset_text()) is None
