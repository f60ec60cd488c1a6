"""Allowance policies as data: one declarative, versioned document per organisation, effective by date.

A document (YAML or TOML) is checked twice: against ``policy.schema.json`` (generated from the models here, so
editors and the API can validate without Python) and by the pydantic models, which add the cross-field rules
(tiers ascending, referenced codes existing, weights summing to 100). Either way a refusal names the path of
the bad field: ``discipline.late_tiers[2].percent: must be >= 0``. See docs/policy-format.md.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from hub.attendance.absence import AbsenceKind

TK = "TK"  # tanpa keterangan: the code of a day absent without excuse, in every policy
JOB_CLASSES = range(1, 18)  # kelas jabatan 1-17

Percent = Annotated[Decimal, Field(ge=0, le=100), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})]
TierCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]
ClockTime = Annotated[
    time,
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"}),
]
BaseTpp = Annotated[
    dict[int, int],
    WithJsonSchema(
        {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^(1[0-7]|[1-9])$"},
            "additionalProperties": {"type": "integer", "minimum": 0},
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinuteTier(_Model):
    """A band of minutes late (TL) or early (PSW), both bounds inclusive: TL1 is 1..30."""

    code: TierCode
    from_minute: int = Field(ge=1)
    to_minute: int | None = Field(default=None, ge=1, description="inclusive; omitted: no upper bound")
    percent: Percent

    def contains(self, minutes: int) -> bool:
        return self.from_minute <= minutes and (self.to_minute is None or minutes <= self.to_minute)


class ClockTier(_Model):
    """A band of check-in clock times, ``[from_time, to_time)``: from inclusive, to exclusive, to the second."""

    code: TierCode
    from_time: ClockTime
    to_time: ClockTime | None = Field(default=None, description="exclusive; omitted: until the window closes")
    percent: Percent = Decimal(0)
    absent: bool = Field(default=False, description="a check-in in this band makes the day TK")

    def contains(self, clock: time) -> bool:
        return self.from_time <= clock and (self.to_time is None or clock < self.to_time)


class ConsecutiveTk(_Model):
    days: int = Field(ge=2, description="this many TK working days in a row ...")
    percent: Percent = Field(description="... make the month's deduction this (e.g. 100)")


class LateEarlySum(_Model):
    minutes: int = Field(ge=1, description="each full block of late+early minutes in a month counts as one TK")


class Discipline(_Model):
    method: Literal["deduction", "daily_value"] = Field(
        default="deduction",
        description="deduction: percentages of the discipline part add up per month; daily_value: each working "
        "day earns an equal share of the discipline part and tiers say what percent of that day's share is lost",
    )
    late_tiers: tuple[MinuteTier, ...] = ()
    check_in_clock_tiers: tuple[ClockTier, ...] = ()
    early_tiers: tuple[MinuteTier, ...] = ()
    missing_check_in: TierCode | None = Field(default=None, description="a late/clock tier code or TK")
    missing_check_out: TierCode | None = Field(default=None, description="an early tier code or TK")
    tk_percent: Percent
    daily_cap_percent: Percent | None = None
    monthly_cap_percent: Percent = Decimal(100)
    consecutive_tk: ConsecutiveTk | None = None
    late_early_sum: LateEarlySum | None = None
    absence_percent: dict[AbsenceKind, Percent] = Field(
        default_factory=dict, description="deduction per approved absence day by code (e.g. CLTN); default 0"
    )

    def tier(self, code: str) -> MinuteTier | ClockTier | None:
        tiers: list[MinuteTier | ClockTier] = [*self.late_tiers, *self.check_in_clock_tiers, *self.early_tiers]
        return next((t for t in tiers if t.code == code), None)


class ActivityRules(_Model):
    """Minute-based activity value. score = min(value minutes, target - deduction minutes) / target, where
    target = days x daily_target_minutes (DKI style when ``subtract_attendance_minutes``)."""

    daily_target_minutes: int = Field(default=300, ge=1)
    subtract_attendance_minutes: bool = False
    missing_punch_minutes: int = Field(default=0, ge=0, description="deduction minutes for a missing in/out")


class Weights(_Model):
    performance: Percent
    discipline: Percent


class Allowance(_Model):
    currency: Literal["IDR"] = "IDR"
    base_tpp: BaseTpp = Field(description="base TPP in rupiah per kelas jabatan (1-17)")


class Policy(_Model):
    schema_version: Literal[1] = 1
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    version: int = Field(ge=1)
    effective_from: date
    discipline: Discipline
    activity: ActivityRules | None = Field(default=None, description="omitted: performance comes from the SKP")
    weights: Weights
    allowance: Allowance

    @model_validator(mode="after")
    def _coherent(self) -> Policy:
        problems = semantic_problems(self)
        if problems:
            # Not a ValueError on purpose: pydantic would fold it into one error at the root and lose the paths.
            raise PolicyError(problems)
        return self


@dataclass(frozen=True)
class PolicyProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyError(Exception):
    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = tuple(problems)


def format_path(loc: Iterable[str | int]) -> str:
    """``('discipline', 'late_tiers', 2, 'percent')`` -> ``discipline.late_tiers[2].percent``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _cost(tier: MinuteTier | ClockTier, tk_percent: Decimal) -> Decimal:
    return tk_percent if isinstance(tier, ClockTier) and tier.absent else tier.percent


def _ordering_problems(
    path: str, tiers: Sequence[MinuteTier] | Sequence[ClockTier], tk_percent: Decimal
) -> list[PolicyProblem]:
    """Tiers must ascend without overlap, and a later tier must never cost less (more lateness, more cut)."""
    problems: list[PolicyProblem] = []
    for n, (before, after) in enumerate(itertools.pairwise(tiers), start=1):
        if isinstance(before, MinuteTier) and isinstance(after, MinuteTier):
            overlaps = before.to_minute is None or after.from_minute <= before.to_minute
            start_field = "from_minute"
        elif isinstance(before, ClockTier) and isinstance(after, ClockTier):
            overlaps = before.to_time is None or after.from_time < before.to_time
            start_field = "from_time"
        else:  # pragma: no cover - a tuple is homogeneous by construction
            continue
        if overlaps:
            problems.append(PolicyProblem(f"{path}[{n}].{start_field}", "must start after the previous tier ends"))
        if _cost(after, tk_percent) < _cost(before, tk_percent):
            problems.append(PolicyProblem(f"{path}[{n}].percent", "must be >= the previous tier's percent"))
    for n, tier in enumerate(tiers):
        if isinstance(tier, MinuteTier) and tier.to_minute is not None and tier.to_minute < tier.from_minute:
            problems.append(PolicyProblem(f"{path}[{n}].to_minute", "must be >= from_minute"))
        if isinstance(tier, ClockTier) and tier.to_time is not None and tier.to_time <= tier.from_time:
            problems.append(PolicyProblem(f"{path}[{n}].to_time", "must be later than from_time"))
    return problems


def semantic_problems(policy: Policy) -> list[PolicyProblem]:
    """The rules a JSON Schema cannot say: order, references, sums."""
    d = policy.discipline
    problems = [
        *_ordering_problems("discipline.late_tiers", d.late_tiers, d.tk_percent),
        *_ordering_problems("discipline.check_in_clock_tiers", d.check_in_clock_tiers, d.tk_percent),
        *_ordering_problems("discipline.early_tiers", d.early_tiers, d.tk_percent),
    ]
    if d.late_tiers and d.check_in_clock_tiers:
        problems.append(
            PolicyProblem("discipline.check_in_clock_tiers", "use either late_tiers or check_in_clock_tiers, not both")
        )
    seen: set[str] = set()
    named: list[tuple[str, Sequence[MinuteTier | ClockTier]]] = [
        ("late_tiers", d.late_tiers),
        ("check_in_clock_tiers", d.check_in_clock_tiers),
        ("early_tiers", d.early_tiers),
    ]
    for field_name, tiers in named:
        for n, tier in enumerate(tiers):
            if tier.code == TK or tier.code in seen:
                problems.append(PolicyProblem(f"discipline.{field_name}[{n}].code", f"{tier.code} is already used"))
            seen.add(tier.code)
    check_in_codes = {t.code for t in d.late_tiers} | {t.code for t in d.check_in_clock_tiers} | {TK}
    if d.missing_check_in is not None and d.missing_check_in not in check_in_codes:
        problems.append(
            PolicyProblem("discipline.missing_check_in", f"must be one of {', '.join(sorted(check_in_codes))}")
        )
    check_out_codes = {t.code for t in d.early_tiers} | {TK}
    if d.missing_check_out is not None and d.missing_check_out not in check_out_codes:
        problems.append(
            PolicyProblem("discipline.missing_check_out", f"must be one of {', '.join(sorted(check_out_codes))}")
        )
    if policy.weights.performance + policy.weights.discipline != 100:
        problems.append(PolicyProblem("weights", "performance + discipline must be 100"))
    for job_class in policy.allowance.base_tpp:
        if job_class not in JOB_CLASSES:
            problems.append(PolicyProblem(f"allowance.base_tpp.{job_class}", "kelas jabatan must be 1-17"))
    return problems


def _numeric_defaults(node: Any) -> Any:
    """Decimal defaults serialise as strings ("0"); in a schema they must be the numbers they are."""
    if isinstance(node, dict):
        fixed = {k: _numeric_defaults(v) for k, v in node.items()}
        if fixed.get("type") == "number" and isinstance(fixed.get("default"), str):
            fixed["default"] = json.loads(fixed["default"])
        return fixed
    if isinstance(node, list):
        return [_numeric_defaults(v) for v in node]
    return node


@cache
def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy document, as shipped in ``policy.schema.json``."""
    schema: dict[str, Any] = _numeric_defaults(Policy.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://presensi.local/schemas/attendance-policy-v1.json"
    return schema


@cache
def _shipped_validator() -> jsonschema.Draft202012Validator:
    text = resources.files("hub.attendance").joinpath("policy.schema.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _schema_message(error: jsonschema.ValidationError) -> str:
    # jsonschema's own messages quote the whole offending value; a policy author wants the rule.
    rule, value = error.validator, error.validator_value
    messages = {
        "minimum": f"must be >= {value}",
        "maximum": f"must be <= {value}",
        "exclusiveMinimum": f"must be > {value}",
        "minLength": "must not be empty",
        "minItems": f"needs at least {value} item(s)",
        "minProperties": f"needs at least {value} entr(y/ies)",
        "type": f"must be of type {value}",
        "pattern": f"must match {value}",
        "const": f"must be {value!r}",
        "enum": f"must be one of {', '.join(map(str, value))}" if isinstance(value, list) else "not allowed",
    }
    return messages.get(str(rule), error.message)


def _schema_problems(document: Mapping[str, Any]) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for error in sorted(_shipped_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = format_path(error.absolute_path)
        if error.validator == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            problems.extend(PolicyProblem(format_path([*error.absolute_path, name]), "required") for name in missing)
        elif error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            extra = [name for name in error.instance if name not in known]
            problems.extend(PolicyProblem(format_path([*error.absolute_path, name]), "unknown field") for name in extra)
        elif "propertyNames" in error.schema_path:
            # The error is about a key (the instance is the key itself): name it in the path.
            key_path = format_path([*error.absolute_path, str(error.instance)])
            problems.append(PolicyProblem(key_path, f"not an allowed key ({_schema_message(error)})"))
        elif error.validator in {"anyOf", "oneOf"} and error.context:
            # A nullable field: report why the non-null branch refused the value.
            best = min(error.context, key=lambda e: e.validator == "type")
            problems.append(PolicyProblem(path, _schema_message(best)))
        else:
            problems.append(PolicyProblem(path, _schema_message(error)))
    return problems


def _pydantic_problems(exc: ValidationError) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for error in exc.errors():
        ctx = error.get("ctx", {})
        message = {
            "greater_than_equal": f"must be >= {ctx.get('ge')}",
            "less_than_equal": f"must be <= {ctx.get('le')}",
            "missing": "required",
            "extra_forbidden": "unknown field",
        }.get(error["type"], error["msg"])
        problems.append(PolicyProblem(format_path(error["loc"]), message))
    return problems


def _json_ready(value: Any) -> Any:
    """YAML and TOML give dates, times and int keys; JSON Schema sees what a JSON document would hold."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """Validate an already-parsed document; raises ``PolicyError`` listing every problem with its path."""
    ready = _json_ready(document)
    problems = _schema_problems(ready)
    if problems:
        raise PolicyError(problems)
    try:
        return Policy.model_validate(ready)
    except ValidationError as exc:
        raise PolicyError(_pydantic_problems(exc)) from None


MAX_DEPTH = 32  # a real policy nests 5 levels; far deeper is an attack on the parser's recursion


def _yaml_shape_problem(text: str) -> PolicyProblem | None:
    """Refuse aliases and absurd nesting before building anything: an alias can make a document refer to
    itself (endless recursion) or multiply itself (billion laughs), and a policy never needs one."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else "?"
            return PolicyProblem(
                "", f"line {line}: YAML aliases (*{event.anchor}) are not allowed; write the value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return PolicyProblem("", f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def load_policy(text: str, fmt: Literal["yaml", "toml"] = "yaml") -> Policy:
    """Parse and validate a policy document from YAML or TOML text; anything wrong is a PolicyError."""
    try:
        if fmt == "yaml":
            shape = _yaml_shape_problem(text)
            if shape is not None:
                raise PolicyError([shape])
        document = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError([PolicyProblem("", f"not valid {fmt.upper()}: {exc}")]) from None
    except (ValueError, OverflowError) as exc:
        # YAML's timestamp and number constructors raise these, e.g. for 2026-02-30.
        raise PolicyError([PolicyProblem("", f"not valid {fmt.upper()}: {exc}")]) from None
    except RecursionError:
        raise PolicyError([PolicyProblem("", f"nested deeper than {MAX_DEPTH} levels")]) from None
    if not isinstance(document, dict):
        raise PolicyError([PolicyProblem("", "a policy document is a mapping at the top level")])
    return parse_policy(document)


PRESETS = ("tlpsw-standard", "barito-selatan", "dki-activity")


def load_preset(name: str) -> Policy:
    if name not in PRESETS:
        raise LookupError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return load_policy(resources.files("hub.attendance").joinpath(f"presets/{name}.yaml").read_text(encoding="utf-8"))


def policy_in_force(versions: Iterable[Policy], day: date) -> Policy:
    """The version of one policy in force on ``day``: the latest ``effective_from`` on or before it.
    Raises ``LookupError`` if none is in force yet, ``ValueError`` for a set that mixes policies or has two
    versions taking effect the same day (which one applies would be a guess)."""
    candidates = list(versions)
    if len({p.id for p in candidates}) > 1:
        raise ValueError(f"versions of different policies: {sorted({p.id for p in candidates})}")
    starts = [p.effective_from for p in candidates]
    if len(set(starts)) != len(starts):
        raise ValueError("two versions take effect on the same date")
    in_force = [p for p in candidates if p.effective_from <= day]
    if not in_force:
        raise LookupError(f"no policy version in force on {day.isoformat()}")
    return max(in_force, key=lambda p: p.effective_from)


def late_tier(discipline: Discipline, minutes_late: int) -> MinuteTier | None:
    return next((t for t in discipline.late_tiers if t.contains(minutes_late)), None)


def early_tier(discipline: Discipline, minutes_early: int) -> MinuteTier | None:
    return next((t for t in discipline.early_tiers if t.contains(minutes_early)), None)


def clock_tier(discipline: Discipline, check_in: time) -> ClockTier | None:
    return next((t for t in discipline.check_in_clock_tiers if t.contains(check_in)), None)
