"""The dashboard's words in Indonesian (the default) and English: one catalogue, a key per phrase.

A key missing in a language falls back to Indonesian, then to the key itself, so a page never breaks on a
missing word; a test checks both languages have every key.
"""

from collections.abc import Callable
from typing import Any

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
COOKIE = "presensi_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"id": "Dasbor Presensi", "en": "Attendance dashboard"},
    "nav.today": {"id": "Hari ini", "en": "Today"},
    "nav.terminals": {"id": "Terminal & edge", "en": "Terminals & edges"},
    "nav.exceptions": {"id": "Pengecualian", "en": "Exceptions"},
    "nav.employees": {"id": "Pegawai", "en": "Employees"},
    "nav.recaps": {"id": "Rekap", "en": "Recaps"},
    "nav.sign_out": {"id": "Keluar", "en": "Sign out"},
    "nav.language": {"id": "Bahasa", "en": "Language"},
    "login.title": {"id": "Masuk", "en": "Sign in"},
    "login.username": {"id": "Nama pengguna", "en": "Username"},
    "login.password": {"id": "Kata sandi", "en": "Password"},
    "login.submit": {"id": "Masuk", "en": "Sign in"},
    "login.failed": {"id": "Nama pengguna atau kata sandi salah.", "en": "Wrong username or password."},
    "login.limited": {
        "id": "Terlalu banyak percobaan masuk. Coba lagi dalam 15 menit.",
        "en": "Too many sign-in attempts. Try again in 15 minutes.",
    },
    "error.forbidden": {"id": "Peran Anda tidak boleh melakukan ini.", "en": "Your role may not do this."},
    "error.csrf": {
        "id": "Formulir kedaluwarsa atau tidak sah; muat ulang halaman dan coba lagi.",
        "en": "The form has expired or is not valid; reload the page and try again.",
    },
    "error.title": {"id": "Ditolak", "en": "Refused"},
    "role": {"id": "Peran", "en": "Role"},
    "read_only": {"id": "hanya baca", "en": "read only"},
    "unit": {"id": "Unit", "en": "Unit"},
    "day": {"id": "Tanggal", "en": "Date"},
    "month": {"id": "Bulan", "en": "Month"},
    "show": {"id": "Tampilkan", "en": "Show"},
    "name": {"id": "Nama", "en": "Name"},
    "nip": {"id": "NIP", "en": "NIP"},
    "none": {"id": "Tidak ada.", "en": "None."},
    "reason": {"id": "Alasan", "en": "Reason"},
    "status": {"id": "Status", "en": "Status"},
    "total": {"id": "Jumlah", "en": "Total"},
    "today.title": {"id": "Kehadiran hari ini", "en": "Attendance today"},
    "today.in": {"id": "Hadir", "en": "In"},
    "today.late": {"id": "Terlambat", "en": "Late"},
    "today.not_yet_in": {"id": "Belum hadir", "en": "Not yet in"},
    "today.excused": {"id": "Izin/cuti/DL", "en": "Excused"},
    "today.off": {"id": "Libur", "en": "Day off"},
    "today.unscheduled": {"id": "Tanpa jadwal/kebijakan", "en": "No schedule or policy"},
    "today.histogram": {"id": "Sebaran jam datang", "en": "Arrival times"},
    "today.no_arrivals": {"id": "Belum ada yang datang.", "en": "Nobody has arrived yet."},
    "today.employees": {"id": "Pegawai", "en": "Employees"},
    "today.no_policy": {
        "id": "Belum ada kebijakan tunjangan yang aktif: kehadiran belum bisa dinilai.",
        "en": "No allowance policy is active yet: attendance cannot be judged.",
    },
    "terminals.title": {"id": "Terminal dan edge", "en": "Terminals and edges"},
    "terminals.edges": {"id": "Edge", "en": "Edges"},
    "terminals.terminals": {"id": "Terminal", "en": "Terminals"},
    "terminals.online": {"id": "daring", "en": "online"},
    "terminals.offline": {"id": "luring", "en": "offline"},
    "terminals.unknown": {"id": "belum diketahui", "en": "unknown"},
    "terminals.last_seen": {"id": "Terakhir terlihat", "en": "Last seen"},
    "terminals.buffer": {"id": "Antrian buffer", "en": "Buffer depth"},
    "terminals.disk": {"id": "Disk buffer", "en": "Buffer disk"},
    "terminals.drift": {"id": "Selisih jam", "en": "Clock drift"},
    "terminals.log_fill": {"id": "Isi log", "en": "Log fill"},
    "terminals.last_error": {"id": "Galat terakhir", "en": "Last error"},
    "terminals.reachable": {"id": "Terjangkau", "en": "Reachable"},
    "terminals.yes": {"id": "ya", "en": "yes"},
    "terminals.no": {"id": "tidak", "en": "no"},
    "terminals.location": {"id": "Lokasi", "en": "Location"},
    "terminals.drifting": {"id": "jam bergeser", "en": "clock drifting"},
    "terminals.nearly_full": {"id": "log hampir penuh", "en": "log nearly full"},
    "terminals.unreachable": {"id": "tidak terjangkau", "en": "unreachable"},
    "terminals.broken_day": {"id": "Terminal rusak pada", "en": "Terminal broken on"},
    "terminals.broken_save": {"id": "Catat", "en": "Record"},
    "terminals.broken_saved": {
        "id": "Hari rusak {day} untuk {serial} dicatat; pegawai yang terdaftar diberi jam jadwalnya.",
        "en": "Broken day {day} recorded for {serial}; its enrolled employees get their scheduled times.",
    },
    "exceptions.title": {"id": "Antrian pengecualian", "en": "Exceptions queue"},
    "exceptions.unmatched": {"id": "PIN tak dikenal", "en": "Unmatched PINs"},
    "exceptions.terminal": {"id": "Terminal", "en": "Terminal"},
    "exceptions.pin": {"id": "PIN", "en": "PIN"},
    "exceptions.punches": {"id": "Absen", "en": "Punches"},
    "exceptions.first": {"id": "Pertama", "en": "First"},
    "exceptions.last": {"id": "Terakhir", "en": "Last"},
    "exceptions.map_to": {"id": "Petakan ke pegawai", "en": "Map to employee"},
    "exceptions.valid_from": {"id": "Berlaku mulai", "en": "Valid from"},
    "exceptions.map": {"id": "Petakan", "en": "Map"},
    "exceptions.mapped": {
        "id": "PIN {pin} di {terminal} dipetakan ke {name}; {count} absen kini tercatat atas namanya.",
        "en": "PIN {pin} on {terminal} mapped to {name}; {count} punches are now attributed.",
    },
    "exceptions.attributed": {"id": "Absen yang kini tercatat", "en": "Punches now attributed"},
    "exceptions.suspect": {"id": "Waktu mencurigakan", "en": "Suspect timestamps"},
    "exceptions.flags": {"id": "Tanda", "en": "Flags"},
    "exceptions.local_time": {"id": "Waktu terminal", "en": "Terminal time"},
    "exceptions.employee": {"id": "Pegawai", "en": "Employee"},
    "exceptions.conflicts": {"id": "Konflik rekonsiliasi", "en": "Reconciliation conflicts"},
    "exceptions.findings": {"id": "Temuan", "en": "Findings"},
    "exceptions.dead_letters": {"id": "Pesan ditolak (dead letter)", "en": "Dead letters"},
    "exceptions.received": {"id": "Diterima", "en": "Received"},
    "exceptions.topic": {"id": "Topik", "en": "Topic"},
    "exceptions.refusal": {"id": "Sebab ditolak", "en": "Why refused"},
    "exceptions.resolve": {"id": "Tandai selesai", "en": "Mark resolved"},
    "exceptions.resolved": {
        "id": "Dead letter {id} ditandai selesai.",
        "en": "Dead letter {id} marked resolved.",
    },
    "exceptions.resolved_by": {"id": "Diselesaikan oleh", "en": "Resolved by"},
    "exceptions.show_resolved": {"id": "Tampilkan yang sudah selesai", "en": "Show resolved ones"},
    "employees.title": {"id": "Pegawai", "en": "Employees"},
    "employees.search": {"id": "Cari nama atau NIP", "en": "Search name or NIP"},
    "employee.month": {"id": "Bulan pegawai", "en": "Employee month"},
    "employee.days": {"id": "Hari kerja", "en": "Attendance days"},
    "employee.check_in": {"id": "Datang", "en": "In"},
    "employee.check_out": {"id": "Pulang", "en": "Out"},
    "employee.code": {"id": "Kode", "en": "Code"},
    "employee.deduction": {"id": "Potongan", "en": "Deduction"},
    "employee.punches": {"id": "Absen", "en": "Punches"},
    "employee.activities": {"id": "Aktivitas", "en": "Activities"},
    "employee.review": {"id": "Status tinjauan", "en": "Review state"},
    "employee.corrections": {"id": "Koreksi dan jejak audit", "en": "Corrections and audit trail"},
    "employee.by": {"id": "Oleh", "en": "By"},
    "employee.when": {"id": "Kapan", "en": "When"},
    "employee.kind": {"id": "Jenis", "en": "Kind"},
    "employee.before_after": {"id": "Sebelum → sesudah", "en": "Before → after"},
    "employee.new_correction": {"id": "Koreksi absen yang hilang", "en": "Correct a missing punch"},
    "employee.local_time": {"id": "Waktu (zona unit)", "en": "Time (unit's zone)"},
    "employee.save_correction": {"id": "Simpan koreksi", "en": "Save correction"},
    "employee.corrected": {
        "id": "Koreksi disimpan; hari dan rekap sudah dihitung ulang.",
        "en": "Correction saved; the days and the recap are recomputed.",
    },
    "employee.reviewed": {"id": "Tinjauan aktivitas disimpan.", "en": "Activity review saved."},
    "employee.review_action": {"id": "Tinjau", "en": "Review"},
    "employee.comment": {"id": "Catatan", "en": "Comment"},
    "employee.correct": {"id": "koreksi", "en": "correct"},
    "review.approve": {"id": "setujui", "en": "approve"},
    "review.reject": {"id": "tolak", "en": "reject"},
    "review.request_revision": {"id": "minta revisi", "en": "request revision"},
    "review.resubmit": {"id": "ajukan ulang", "en": "resubmit"},
    "employee.recap": {"id": "Rekap bulan ini", "en": "Recap of the month"},
    "employee.no_recap": {
        "id": "Belum ada hari yang bisa dinilai (jadwal, kebijakan atau kelas jabatan belum ada).",
        "en": "No day can be judged yet (schedule, policy or job class missing).",
    },
    "recap.working_days": {"id": "Hari kerja", "en": "Working days"},
    "recap.present_days": {"id": "Hadir", "en": "Present"},
    "recap.tk_days": {"id": "TK", "en": "TK (absent)"},
    "recap.tiers": {"id": "Tingkat TL/PSW", "en": "Late/early tiers"},
    "recap.lines": {"id": "Rincian potongan", "en": "Deductions, tier by tier"},
    "recap.rule": {"id": "Aturan", "en": "Rule"},
    "recap.deduction": {"id": "Potongan total", "en": "Total deduction"},
    "recap.allowance": {"id": "TPP", "en": "Allowance (TPP)"},
    "recap.base": {"id": "TPP dasar", "en": "Base TPP"},
    "recap.performance_part": {"id": "Bagian kinerja", "en": "Performance part"},
    "recap.discipline_part": {"id": "Bagian disiplin", "en": "Discipline part"},
    "recap.month_rule": {"id": "bulan", "en": "month"},
    "weekday.0": {"id": "Sen", "en": "Mon"},
    "weekday.1": {"id": "Sel", "en": "Tue"},
    "weekday.2": {"id": "Rab", "en": "Wed"},
    "weekday.3": {"id": "Kam", "en": "Thu"},
    "weekday.4": {"id": "Jum", "en": "Fri"},
    "weekday.5": {"id": "Sab", "en": "Sat"},
    "weekday.6": {"id": "Min", "en": "Sun"},
    "recaps.title": {"id": "Rekap per unit", "en": "Recaps by unit"},
    "recaps.download": {"id": "Unduh", "en": "Download"},
    "recaps.feed": {"id": "Status kirim ke e-Kinerja", "en": "e-Kinerja feed status"},
    "recaps.feed_unavailable": {"id": "Status feed tidak tersedia.", "en": "Feed status unavailable."},
    "recaps.days": {"id": "Hari", "en": "Days"},
    "recaps.choose_unit": {"id": "Pilih unit.", "en": "Choose a unit."},
}


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)``: the phrase in ``language`` with ``{name}`` placeholders filled."""

    def t(key: str, **values: Any) -> str:
        entry = MESSAGES.get(key)
        text = key if entry is None else entry.get(language) or entry[DEFAULT_LANGUAGE]
        return text.format(**values) if values else text

    return t


def chosen_language(cookie: str | None) -> str:
    """The language the visitor chose (a cookie), else Indonesian: the dashboard's people work in it."""
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE
