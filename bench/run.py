"""``make bench``: run every benchmark module and write docs/benchmarks.md.

Each ``bench/bench_<name>.py`` exposes ``run() -> str`` returning a Markdown section (figures and
the exact command). Results of modules not run this time are kept from the previous file, so
``python -m bench.run simulator`` refreshes one section without losing the others. Options after one name go
to that module's ``run(argv)`` (``python -m bench.run recompute --employees 5000``).
"""

import importlib
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "benchmarks.md"
# A section, and the notes written by hand after it (up to the next section), which a run keeps.
SECTION = re.compile(
    r"<!-- bench:(\w+):start -->\n(.*?)<!-- bench:\1:end -->\n((?:(?!<!-- bench:\w+:start -->).)*)", re.S
)


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))


def main(argv: list[str]) -> int:
    split = next((n for n, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or available(), argv[split:]
    if options and len(names) != 1:
        print("options need exactly one benchmark name: python -m bench.run recompute --employees 5000")
        return 2
    found = SECTION.findall(OUTPUT.read_text()) if OUTPUT.exists() else []
    sections = {name: body for name, body, _ in found}
    notes = {name: text.strip() for name, _, text in found}
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = module.run(options) if options else module.run()
        sections[name] = f"_Run {started} on {machine()}._\n\n{body.strip()}\n"
    parts = [
        "# Benchmarks\n",
        "Written by `make bench` (`python -m bench.run [name ...]`); each section names its own command.",
        "Figures are from the machine named in the section; they are measurements, not test assertions.\n",
    ]
    for name in sorted(sections):
        parts.append(f"<!-- bench:{name}:start -->\n{sections[name]}<!-- bench:{name}:end -->\n")
        if notes.get(name):
            parts.append(notes[name] + "\n")
    OUTPUT.write_text("\n".join(parts))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
