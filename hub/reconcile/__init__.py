"""Wiring the pure rule engine (``hub.attendance``) into the hub's store.

- ``documents``: schedule group documents (JSON) and the stored form of an evaluated day
- ``loader``: one batch of inputs (punches, schedules, holidays, absences, activities, corrections, policies)
- ``service``: ``recompute`` -> ``attendance_days`` (versioned), the monthly recap on the fly
- ``queue``: dirty marking (ingest marks terminal days, registry changes mark employee days) and ``--pending``
- ``corrections``: operator corrections beside the raw data, audited
"""
