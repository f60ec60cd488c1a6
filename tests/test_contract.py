"""The MQTT contract: every example validates, the docs show exactly the examples, bad input is refused."""

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from presensi.contract import (
    BatchAck,
    Command,
    CommandResult,
    EdgeHealth,
    EdgeStatus,
    EdgeTopics,
    HubSubscriptions,
    PunchBatch,
    punch_key,
)
from presensi.contract.topics import edge_id_from_topic

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "presensi" / "contract" / "examples"
MODEL_OF_EXAMPLE: dict[str, type[BaseModel]] = {
    "punch_batch": PunchBatch,
    "batch_ack": BatchAck,
    "edge_status_birth": EdgeStatus,
    "edge_status_will": EdgeStatus,
    "edge_health": EdgeHealth,
    "command_resend_range": Command,
    "command_sync_clock": Command,
    "command_reread_users": Command,
    "command_result": CommandResult,
}


@pytest.mark.parametrize("name", sorted(MODEL_OF_EXAMPLE))
def test_every_example_validates_and_round_trips(name: str) -> None:
    raw = (EXAMPLES / f"{name}.json").read_text()
    model = MODEL_OF_EXAMPLE[name].model_validate_json(raw)
    assert json.loads(model.model_dump_json()) == json.loads(raw)


def test_no_example_file_is_left_unchecked() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.json")} == set(MODEL_OF_EXAMPLE)


def test_contract_doc_shows_exactly_the_example_files() -> None:
    doc = (ROOT / "docs" / "mqtt-contract.md").read_text()
    blocks = dict(re.findall(r"<!-- example: (\w+) -->\s*```json\n(.*?)```", doc, flags=re.S))
    assert set(blocks) == set(MODEL_OF_EXAMPLE)
    for name, block in blocks.items():
        assert json.loads(block) == json.loads((EXAMPLES / f"{name}.json").read_text()), name


def _batch() -> dict[str, object]:
    return json.loads((EXAMPLES / "punch_batch.json").read_text())  # type: ignore[no-any-return]


def test_punch_with_key_not_matching_fields_is_refused_with_its_path() -> None:
    batch = _batch()
    batch["punches"][0]["pin"] = "99999"  # type: ignore[index]
    with pytest.raises(ValidationError) as err:
        PunchBatch.model_validate(batch)
    assert "punches.0" in str(err.value)
    assert "does not match the punch fields" in str(err.value)


def test_utc_inconsistent_with_zone_is_refused() -> None:
    batch = _batch()
    batch["punches"][0]["zone"] = "Asia/Makassar"  # type: ignore[index]
    with pytest.raises(ValidationError, match="is not local_time"):
        PunchBatch.model_validate(batch)


def test_unknown_field_and_unknown_version_are_refused() -> None:
    batch = _batch()
    batch["extra"] = 1
    with pytest.raises(ValidationError, match="extra"):
        PunchBatch.model_validate(batch)
    batch = _batch()
    batch["v"] = 2
    with pytest.raises(ValidationError, match="v"):
        PunchBatch.model_validate(batch)


def test_empty_batch_and_unknown_zone_are_refused() -> None:
    batch = _batch()
    batch["punches"] = []
    with pytest.raises(ValidationError, match="punches"):
        PunchBatch.model_validate(batch)
    batch = _batch()
    batch["punches"][0]["zone"] = "Asia/Atlantis"  # type: ignore[index]
    with pytest.raises(ValidationError, match="unknown IANA zone"):
        PunchBatch.model_validate(batch)


def test_punch_key_is_natural_and_rejects_ambiguous_parts() -> None:
    assert punch_key("SN1", "007", datetime(2026, 1, 2, 7, 5, 9), 1) == "SN1|007|20260102T070509|1"
    with pytest.raises(ValueError, match="pin"):
        punch_key("SN1", "0|7", datetime(2026, 1, 2), 0)


def test_topics_are_per_edge_and_shared_subscription_friendly() -> None:
    topics = EdgeTopics("kantor-01")
    assert topics.punches == "presensi/v1/edge/kantor-01/punches"
    assert topics.ack == "presensi/v1/edge/kantor-01/ack"
    assert topics.status == "presensi/v1/edge/kantor-01/status"
    assert HubSubscriptions("g").punches == "$share/g/presensi/v1/edge/+/punches"
    assert edge_id_from_topic(topics.command_result) == "kantor-01"
    with pytest.raises(ValueError, match="not below"):
        edge_id_from_topic("other/v1/edge/x/punches")
