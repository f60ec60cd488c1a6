"""The e-Kinerja feed: a transactional outbox of daily records and monthly recaps, its dispatcher, month closing
and the CSV/XLSX exports of the same data (docs/ekinerja-feed.md)."""
