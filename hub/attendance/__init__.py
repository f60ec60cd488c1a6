"""The pure attendance rule engine: rules are data, evaluated by small pure functions; I/O stays at the edges.

- ``schedule``: schedule groups, overrides, unit/employee assignment -> ``schedule_for``
- ``calendar``: holidays and cuti bersama, CSV/YAML import, the bundled 2026 calendar
- ``absence``: absence kinds, approval; ``approved_absence_on``
- ``activity``: activity entries, the review state machine, CSV import
- ``policy``: the allowance policy document, its schema, presets, ``policy_in_force``
- ``day``: ``attribute_punches`` and ``evaluate_day`` -> ``AttendanceDay``
- ``recap``: ``monthly_recap`` -> ``MonthlyRecap``
"""
