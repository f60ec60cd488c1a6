"""The registry: units, employees, terminals and enrollments, every change audited (``audit``)."""
