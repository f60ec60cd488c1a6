"""Assemble simulated terminals and their workforce from CLI-style options.

Shared by ``presensi sim zk``, ``presensi sim fleet`` and the demo so all three build the same
thing: terminals grouped into offices (each in its time zone), employees enrolled on every
terminal of their office, and an optional pre-filled history.
"""

from dataclasses import dataclass, field
from pathlib import Path

from simulators.zk.clock import SimClock
from simulators.zk.layouts import PROFILES, FirmwareProfile, profile_for_record_size
from simulators.zk.terminal import Identity, Terminal, WhenFull
from simulators.zk.workforce import Employee, Workforce

GIVEN_NAMES = [
    "Agus",
    "Budi",
    "Citra",
    "Dewi",
    "Eka",
    "Fajar",
    "Gita",
    "Hendra",
    "Indah",
    "Joko",
    "Kartika",
    "Lestari",
]
FAMILY_NAMES = [
    "Santoso",
    "Wijaya",
    "Pratama",
    "Siregar",
    "Nasution",
    "Hidayat",
    "Saputra",
    "Lubis",
    "Harahap",
]


@dataclass(slots=True)
class FleetSpec:
    terminals: int = 1
    base_port: int = 4370
    users: int = 50
    records: int = 0
    comm_key: int = 0
    profile: str | None = None
    record_size: int | None = None
    record_capacity: int = 100_000
    when_full: WhenFull = "overwrite"
    offices: int = 1
    zones: list[str] = field(default_factory=lambda: ["Asia/Jakarta"])
    seed: int = 0
    serial_prefix: str = "PRS"
    state: Path | None = None


def resolve_profile(spec: FleetSpec) -> FirmwareProfile:
    if spec.profile and spec.record_size:
        raise ValueError("give either --profile or --record-size, not both")
    if spec.profile:
        if spec.profile not in PROFILES:
            raise ValueError(f"unknown profile {spec.profile!r}; known: {', '.join(sorted(PROFILES))}")
        return PROFILES[spec.profile]
    if spec.record_size:
        return profile_for_record_size(spec.record_size)
    return PROFILES["zk8"]


def state_file(spec: FleetSpec, serial: str) -> Path | None:
    """``--state`` is a file for one terminal, a directory (one file per serial) for a fleet."""
    if spec.state is None:
        return None
    if spec.terminals == 1 and spec.state.suffix == ".json":
        return spec.state
    spec.state.mkdir(parents=True, exist_ok=True)
    return spec.state / f"{serial}.json"


def build(spec: FleetSpec, world: SimClock) -> tuple[list[Terminal], list[Employee], Workforce]:
    """Terminals (loaded from state where a state file exists), employees and their workforce."""
    profile = resolve_profile(spec)
    terminals: list[Terminal] = []
    office_of: list[int] = []
    for index in range(spec.terminals):
        serial = f"{spec.serial_prefix}{spec.seed % 100:02d}{spec.base_port + index:05d}"
        office = index % spec.offices
        path = state_file(spec, serial)
        if path is not None and path.exists():
            terminal = Terminal.load(path, world)
        else:
            terminal = Terminal(
                serial,
                world=world,
                zone=spec.zones[office % len(spec.zones)],
                profile=profile,
                comm_key=spec.comm_key,
                record_capacity=spec.record_capacity,
                when_full=spec.when_full,
                identity=Identity(serial=serial, name=f"Kantor {office + 1} pintu {index // spec.offices + 1}"),
            )
        terminals.append(terminal)
        office_of.append(office)

    employees: list[Employee] = []
    for office in range(spec.offices):
        office_terminals = [t for t, o in zip(terminals, office_of, strict=True) if o == office]
        if not office_terminals:
            continue
        for n in range(spec.users):
            number = office * 100_000 + n + 1
            name = f"{GIVEN_NAMES[number % len(GIVEN_NAMES)]} {FAMILY_NAMES[number % len(FAMILY_NAMES)]}"
            employee = Employee(pin=str(10_000 + number), name=name, terminals=office_terminals)
            for terminal in office_terminals:
                terminal.add_user(employee.pin, name)
            employees.append(employee)

    workforce = Workforce(employees, world, seed=spec.seed)
    if spec.records:
        today = world.now().date()
        for terminal in terminals:
            missing = spec.records - terminal.record_count
            if missing > 0:
                terminal.prefill(workforce.history(terminal, missing, before=today))
    return terminals, employees, workforce
