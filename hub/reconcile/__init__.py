"""Wiring the pure rule engine (``hub.attendance``) into the hub's store.

- ``documents``: schedule group documents (JSON) and the stored form of an evaluated day
- ``loader``: one batch of inputs (punches, schedules, holidays, absences, activities, corrections, policies)
- ``service``: ``recompute`` -> ``attendance_days`` (versioned), the monthly recap on the fly
- ``queue``: dirty marking (ingest marks terminal days, registry changes mark employee days) and ``--pending``
  under the ``recompute-pending`` lease
- ``corrections``: operator corrections beside the raw data, audited
- ``exceptions``: the exceptions list (unmatched and flagged punches, the days' reconciliation findings)
- ``preview``: a policy version's effect on a month, before activating it (writes nothing)
- ``activity_import``: activity entries from an e-Kinerja CSV export, idempotent by its id
"""
