"""The policy document: presets load, the shipped schema matches the models, bad documents are refused with the
path of the bad field, versions are chosen by date."""

import copy
import json
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from hub.attendance.policy import (
    PRESETS,
    Policy,
    PolicyError,
    load_policy,
    load_preset,
    parse_policy,
    policy_in_force,
    policy_json_schema,
)
from tests.attendance.attendance_builders import preset_document


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads(name: str) -> None:
    policy = load_preset(name)
    assert policy.id == name
    assert policy.weights.performance + policy.weights.discipline == 100
    assert set(policy.allowance.base_tpp) == set(range(1, 18))


def test_tlpsw_standard_has_the_common_table() -> None:
    d = load_preset("tlpsw-standard").discipline
    assert [(t.code, t.from_minute, t.to_minute, t.percent) for t in d.late_tiers] == [
        ("TL1", 1, 30, Decimal("0.5")),
        ("TL2", 31, 60, Decimal(1)),
        ("TL3", 61, 90, Decimal("1.25")),
        ("TL4", 91, None, Decimal("1.5")),
    ]
    assert [t.code for t in d.early_tiers] == ["PSW1", "PSW2", "PSW3", "PSW4"]
    assert (d.missing_check_in, d.missing_check_out, d.tk_percent, d.monthly_cap_percent) == (
        "TL4",
        "PSW4",
        Decimal(5),
        Decimal(100),
    )


def test_shipped_schema_file_matches_the_models() -> None:
    shipped = json.loads(resources.files("hub.attendance").joinpath("policy.schema.json").read_text("utf-8"))
    assert shipped == policy_json_schema()


def changed(path: str, value: Any) -> dict[str, Any]:
    """The tlpsw-standard document with the field at a dotted path (``[n]`` for list items) set or, for the
    value ``...``, removed."""
    document = copy.deepcopy(preset_document("tlpsw-standard"))
    parts = path.replace("[", ".").replace("]", "").split(".")
    node: Any = document
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return document


REFUSED = [
    # (field changed, new value, the problem reported)
    ("discipline.late_tiers[2].percent", -1, "discipline.late_tiers[2].percent: must be >= 0"),
    ("discipline.tk_percent", 101, "discipline.tk_percent: must be <= 100"),
    ("discipline.tk_percent", "lima", "discipline.tk_percent: must be of type number"),
    ("discipline.tk_percent", ..., "discipline.tk_percent: required"),
    ("discipline.tk_precent", 5, "discipline.tk_precent: unknown field"),
    ("discipline.daily_cap_percent", 150, "discipline.daily_cap_percent: must be <= 100"),
    ("discipline.method", "weekly", "discipline.method: must be one of deduction, daily_value"),
    ("discipline.late_tiers[1].from_minute", 0, "discipline.late_tiers[1].from_minute: must be >= 1"),
    ("discipline.late_tiers[0].code", "tl1", "discipline.late_tiers[0].code: must match ^[A-Z][A-Z0-9_]{0,15}$"),
    ("weights.performance", 70, "weights: performance + discipline must be 100"),
    # Cross-field rules the schema cannot say, reported by the model with the same kind of path:
    (
        "discipline.late_tiers[1].from_minute",
        20,
        "discipline.late_tiers[1].from_minute: must start after the previous tier ends",
    ),
    (
        "discipline.late_tiers[3].percent",
        0.4,
        "discipline.late_tiers[3].percent: must be >= the previous tier's percent",
    ),
    ("discipline.late_tiers[0].to_minute", 0, "discipline.late_tiers[0].to_minute: must be >= 1"),
    ("discipline.early_tiers[1].code", "PSW1", "discipline.early_tiers[1].code: PSW1 is already used"),
    ("discipline.missing_check_in", "TL9", "discipline.missing_check_in: must be one of TK, TL1, TL2, TL3, TL4"),
    ("discipline.missing_check_out", "TL4", "discipline.missing_check_out: must be one of PSW1, PSW2, PSW3, PSW4, TK"),
    ("allowance.base_tpp", {18: 1000}, "allowance.base_tpp.18: not an allowed key (must match ^(1[0-7]|[1-9])$)"),
    ("allowance.base_tpp", {1: -5}, "allowance.base_tpp.1: must be >= 0"),
    ("effective_from", "2026-13-01", "effective_from: Input should be a valid date"),
]


@pytest.mark.parametrize(("path", "value", "problem"), REFUSED)
def test_invalid_policy_is_refused_with_the_path_of_the_bad_field(path: str, value: Any, problem: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(changed(path, value))
    assert any(str(p).startswith(problem) for p in refused.value.problems), refused.value.problems


def test_every_problem_is_reported_at_once() -> None:
    document = changed("discipline.tk_percent", -1)
    document["weights"]["discipline"] = "empat puluh"
    with pytest.raises(PolicyError) as refused:
        parse_policy(document)
    assert [p.path for p in refused.value.problems] == ["discipline.tk_percent", "weights.discipline"]


def test_an_unquoted_clock_time_in_yaml_is_refused_not_misread() -> None:
    # YAML 1.1 reads 7:15 as the sexagesimal integer 435; the schema refuses it instead of guessing.
    text = resources.files("hub.attendance").joinpath("presets/barito-selatan.yaml").read_text("utf-8")
    unquoted = text.replace('{code: HW2, from_time: "07:15:01"', "{code: HW2, from_time: 7:15")
    assert unquoted != text
    with pytest.raises(PolicyError, match=r"check_in_clock_tiers\[1\]\.from_time: must be of type string"):
        load_policy(unquoted)


def test_the_model_alone_refuses_with_a_path_too() -> None:
    # The API may build a Policy straight from JSON without the schema: the cross-field rules still name the field.
    document = changed("discipline.missing_check_in", "TL9")
    with pytest.raises(PolicyError, match=r"^discipline\.missing_check_in: must be one of"):
        Policy.model_validate(document)


def test_using_both_minute_and_clock_tiers_is_refused() -> None:
    document = changed("discipline.check_in_clock_tiers", [{"code": "K1", "from_time": "09:01", "percent": 1}])
    with pytest.raises(PolicyError, match=r"discipline\.check_in_clock_tiers: use either late_tiers"):
        parse_policy(document)


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(PolicyError, match="mapping at the top level"):
        load_policy("- just\n- a list\n")


TOML_POLICY = """
id = "kejaksaan-flat"
name = "Flat 1%"
organisation = "Contoh"
version = 1
effective_from = 2026-01-01

[discipline]
late_tiers = [{ code = "TL", from_minute = 1, percent = 1 }]
early_tiers = [{ code = "PSW", from_minute = 1, percent = 1 }]
missing_check_in = "TL"
missing_check_out = "PSW"
tk_percent = 3

[weights]
performance = 60
discipline = 40

[allowance.base_tpp]
1 = 894961
"""


def test_a_toml_policy_loads() -> None:
    policy = load_policy(TOML_POLICY, "toml")
    assert (policy.id, policy.discipline.late_tiers[0].percent, policy.allowance.base_tpp) == (
        "kejaksaan-flat",
        Decimal(1),
        {1: 894961},
    )


def version(n: int, effective_from: date) -> Policy:
    document = preset_document("tlpsw-standard")
    document.update(version=n, effective_from=effective_from)
    return parse_policy(document)


def test_the_version_in_force_is_the_latest_that_has_started() -> None:
    versions = [version(1, date(2026, 1, 1)), version(2, date(2026, 7, 1))]
    assert policy_in_force(versions, date(2026, 6, 30)).version == 1
    assert policy_in_force(versions, date(2026, 7, 1)).version == 2
    assert policy_in_force(reversed(versions), date(2026, 12, 31)).version == 2
    with pytest.raises(LookupError):
        policy_in_force(versions, date(2025, 12, 31))


def test_two_versions_starting_the_same_day_are_ambiguous() -> None:
    with pytest.raises(ValueError, match="same date"):
        policy_in_force([version(1, date(2026, 1, 1)), version(2, date(2026, 1, 1))], date(2026, 2, 1))
