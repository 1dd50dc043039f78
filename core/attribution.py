"""Attribution ids name who pays: `team:<uuid>` or `user:<uuid>`."""

import re
import uuid
from dataclasses import dataclass

from core.errors import ValidationFailed

KINDS = ("team", "user")
MAX_LENGTH = 64  # "team:" + 36 characters, with room to spare
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# What the OpenAPI schema promises for every attribution id (the parser below holds to it).
ATTRIBUTION_PATTERN = rf"^(team|user):{UUID_PATTERN}$"
HYPHENATED_UUID = re.compile(rf"^{UUID_PATTERN}\Z")


@dataclass(frozen=True)
class AttributionId:
    kind: str
    uuid: uuid.UUID

    def __str__(self) -> str:
        return f"{self.kind}:{self.uuid}"


def parse_attribution_id(value: object, *, field: str = "attribution_id") -> AttributionId:
    """Parse and validate; anything but `team:<uuid>` / `user:<uuid>` is a 400."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed(
            f"{field} is required and must look like team:<uuid> or user:<uuid>.",
            code="invalid_attribution_id",
        )
    kind, sep, raw_uuid = value.partition(":")
    if not sep or kind not in KINDS:
        raise ValidationFailed(
            f"{field} {value!r} must start with 'team:' or 'user:'.",
            code="invalid_attribution_id",
        )
    try:
        if not HYPHENATED_UUID.match(raw_uuid):
            raise ValueError(raw_uuid)  # uuid.UUID would also take braces, urn: and bare hex
        parsed = uuid.UUID(raw_uuid)
    except ValueError:
        raise ValidationFailed(
            f"{field} {value!r} does not end in a valid UUID.", code="invalid_attribution_id"
        ) from None
    return AttributionId(kind=kind, uuid=parsed)


def normalize_attribution_id(value: object, *, field: str = "attribution_id") -> str:
    """The canonical string form (lower-case hyphenated uuid)."""
    return str(parse_attribution_id(value, field=field))


def team_attribution_id(team_uuid: uuid.UUID) -> str:
    return str(AttributionId(kind="team", uuid=team_uuid))
