"""Shared knobs for the fuzz tests: ``PRESENSI_FUZZ_SCALE`` multiplies every example budget (``make fuzz``
sets it for a longer run; the default keeps the whole folder to well under a minute)."""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("PRESENSI_FUZZ_SCALE", "1"))


def budget(examples: int) -> settings:
    """Hypothesis settings for ``examples`` (times the scale) with no per-example deadline: the machine is
    shared, and a hang is caught by the tests' own bounds, not by hypothesis timing."""
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
        derandomize=SCALE == 1,  # the default run is repeatable; longer runs explore
    )


# JSON-like values, with the edges that broke things before: huge ints, long and control-character strings.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**80)
    | st.integers(min_value=-(2**80), max_value=-(2**63) + 2)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "\x00", "\r", "\r\n", "2026-02-30", "9999-12-31", "0000-01-01", "1e999", "-0"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
