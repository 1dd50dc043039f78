import uuid

import pytest

from core.attribution import normalize_attribution_id, parse_attribution_id
from core.errors import ValidationFailed

TEAM_UUID = uuid.UUID("8a4f1a2e-55c1-4b6e-9a51-2f4d7c3e9b10")


def test_team_and_user_ids_parse():
    parsed = parse_attribution_id(f"team:{TEAM_UUID}")
    assert parsed.kind == "team"
    assert parsed.uuid == TEAM_UUID
    assert str(parse_attribution_id(f"user:{TEAM_UUID}")) == f"user:{TEAM_UUID}"


def test_normalized_form_is_lower_case_hyphenated():
    assert normalize_attribution_id(f"team:{str(TEAM_UUID).upper()}") == f"team:{TEAM_UUID}"


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        42,
        "team",
        "team:",
        "org:" + str(TEAM_UUID),
        "team:not-a-uuid",
        f"team;{TEAM_UUID}",
        # uuid.UUID reads these too, but the schema's pattern (hyphenated, 36 characters) does not:
        f"team:{{{TEAM_UUID}}}",
        f"team:urn:uuid:{TEAM_UUID}",
        f"team:{TEAM_UUID.hex}",
        f"team:{TEAM_UUID}\n",
    ],
)
def test_anything_else_is_a_400_with_a_message(value):
    with pytest.raises(ValidationFailed) as info:
        parse_attribution_id(value)
    assert info.value.code == "invalid_attribution_id"
    assert info.value.status_code == 400
    assert "team:" in info.value.message or "UUID" in info.value.message
