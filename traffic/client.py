"""One page of an exporter's `GET /v1/snapshots/window`, fetched and checked.

Anything that makes the window untrustworthy fails the source (`SourceFailure`): a timeout, a
connection or TLS error, a non-2xx answer, a body that is not a page, `has_more` without
`next_cursor`, a node id or env other than the source expects. A single bad sample (an
invalid uuid, a total that is not a non-negative integer) or snapshot (no readable time) is
skipped and reported, and the rest of the page goes on.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import requests

from core.timeutils import format_rfc3339
from traffic.deltas import AggregatedSample, aggregate_samples

PAGE_LIMIT = 120
MAX_NODE_KEY = 200
MAX_EMAIL = 254
MAX_REPORTED_PROBLEMS = 5


class SourceFailure(Exception):
    """This source's window cannot be used now; its checkpoint must not move."""


@dataclass(frozen=True)
class Source:
    """What a run needs of an ExporterSource row (the token already decrypted)."""

    source_id: str
    base_url: str
    token: str
    expected_node_id: str = ""
    expected_env: str = ""
    timeout_seconds: int = 15
    region: str = "default"
    line: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    collected_at: datetime
    node_key: str
    samples: dict[str, AggregatedSample]
    node_id: str = ""
    env: str = ""


@dataclass
class WindowPage:
    snapshots: list[Snapshot]
    has_more: bool
    next_cursor: str
    invalid_samples: int = 0
    problems: list[str] = field(default_factory=list)


def storage_node_id(env: str, node_id: str) -> str:
    """Counter state and facts are per `<env>:<node id>` (just the node id without an env)."""
    env, node_id = env.strip(), node_id.strip()
    return f"{env}:{node_id}" if env else node_id


def fetch_page(
    session: requests.Session,
    source: Source,
    *,
    since: datetime,
    until: datetime,
    cursor: str | None,
    limit: int = PAGE_LIMIT,
) -> WindowPage:
    url = f"{source.base_url}/v1/snapshots/window"
    params = {"since": format_rfc3339(since), "until": format_rfc3339(until), "limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    headers = {"Authorization": f"Bearer {source.token}", "Accept": "application/json"}
    try:
        response = session.get(
            url,
            params=params,
            headers=headers,
            timeout=(source.timeout_seconds, source.timeout_seconds),
            verify=True,  # always: a billing pull never trusts an unverified peer
            allow_redirects=False,
        )
    except requests.exceptions.Timeout:
        raise SourceFailure(f"{url} timed out after {source.timeout_seconds}s") from None
    except requests.exceptions.SSLError as exc:
        raise SourceFailure(f"{url}: TLS verification failed: {_reason(exc)}") from None
    except requests.exceptions.ConnectionError as exc:
        raise SourceFailure(f"{url}: ConnectionError: {_reason(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise SourceFailure(f"{url}: {type(exc).__name__}: {_reason(exc)}") from None
    if not 200 <= response.status_code < 300:
        body = response.text[:200].strip()
        raise SourceFailure(f"{url} answered HTTP {response.status_code}" + (f": {body}" if body else ""))
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise SourceFailure(f"{url} did not answer JSON: {exc}") from None
    return parse_page(payload, source)


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without urllib3's retry wrapping."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)
    text = str(cause)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()'\" ")[:300]


def parse_page(payload: object, source: Source) -> WindowPage:
    if not isinstance(payload, dict):
        raise SourceFailure(f"source {source.source_id}: the window answer is not a JSON object")
    has_more = payload.get("has_more", False)
    if not isinstance(has_more, bool):
        raise SourceFailure(f"source {source.source_id}: has_more must be true or false")
    next_cursor = payload.get("next_cursor") or ""
    if not isinstance(next_cursor, str):
        raise SourceFailure(f"source {source.source_id}: next_cursor must be a string")
    if has_more and not next_cursor.strip():
        raise SourceFailure(f"source {source.source_id}: next_cursor missing while has_more=true")
    page_node = _text(payload.get("node_id"))
    page_env = _text(payload.get("env"))
    _check_identity(source, page_node, page_env, what="page")
    if "snapshots" not in payload:
        raise SourceFailure(f"source {source.source_id}: the window answer has no snapshots array")
    raw_snapshots = payload["snapshots"] or []
    if not isinstance(raw_snapshots, list):
        raise SourceFailure(f"source {source.source_id}: snapshots must be an array")

    page = WindowPage(snapshots=[], has_more=has_more, next_cursor=next_cursor.strip())
    valid_uuids: dict[str, str | None] = {}
    for raw in raw_snapshots:
        if not isinstance(raw, dict):
            page.problems.append("a snapshot is not a JSON object")
            continue
        node_id = _text(raw.get("node_id")) or page_node
        env = _text(raw.get("env")) or page_env
        _check_identity(source, node_id, env, what="snapshot")
        if not node_id:
            raise SourceFailure(f"source {source.source_id}: a snapshot has no node_id")
        node_key = storage_node_id(env, node_id)
        if len(node_key) > MAX_NODE_KEY:
            raise SourceFailure(f"source {source.source_id}: node id {node_key[:40]!r}… is too long")
        collected_at = _time(raw.get("collected_at"))
        if collected_at is None:
            page.problems.append(f"snapshot on {node_key} has no valid collected_at")
            continue
        rows = []
        for sample in raw.get("samples") or ():
            row = _sample_row(sample, valid_uuids)
            if isinstance(row, str):
                page.invalid_samples += 1
                if len(page.problems) < MAX_REPORTED_PROBLEMS:
                    page.problems.append(f"{node_key} at {format_rfc3339(collected_at)}: {row}")
                continue
            rows.append(row)
        page.snapshots.append(
            Snapshot(
                collected_at=collected_at,
                node_key=node_key,
                samples=aggregate_samples(rows),
                node_id=node_id,
                env=env,
            )
        )
    page.snapshots.sort(key=lambda s: s.collected_at)
    return page


def _check_identity(source: Source, node_id: str, env: str, *, what: str) -> None:
    if source.expected_node_id and node_id and node_id != source.expected_node_id:
        raise SourceFailure(
            f"source {source.source_id} expected node_id {source.expected_node_id!r}, {what} has {node_id!r}"
        )
    if source.expected_env and env and env != source.expected_env:
        raise SourceFailure(
            f"source {source.source_id} expected env {source.expected_env!r}, {what} has {env!r}"
        )
    if what == "snapshot":
        # A snapshot must name itself when the source pins an identity.
        if source.expected_node_id and not node_id:
            raise SourceFailure(f"source {source.source_id}: a snapshot has no node_id")
        if source.expected_env and not env:
            raise SourceFailure(f"source {source.source_id}: a snapshot has no env")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _sample_row(sample: object, valid_uuids: dict[str, str | None]) -> tuple[str, str, str, int, int] | str:
    """A sample as (uuid, email, inbound tag, uplink, downlink), or why it was skipped."""
    if not isinstance(sample, dict):
        return "a sample is not a JSON object"
    raw_uuid = sample.get("uuid")
    if not isinstance(raw_uuid, str):
        return "sample uuid is required"
    account_uuid = valid_uuids.get(raw_uuid, "")
    if account_uuid == "":
        try:
            account_uuid = str(uuid.UUID(raw_uuid.strip()))
        except ValueError:
            account_uuid = None
        valid_uuids[raw_uuid] = account_uuid
    if account_uuid is None:
        return f"sample uuid {raw_uuid[:60]!r} is not a valid UUID"
    uplink, downlink = sample.get("uplink_bytes_total"), sample.get("downlink_bytes_total")
    if type(uplink) is not int or type(downlink) is not int or uplink < 0 or downlink < 0:
        return f"sample {account_uuid}: byte totals must be non-negative integers"
    email = sample.get("email")
    tag = sample.get("inbound_tag")
    return (
        account_uuid,
        email.strip()[:MAX_EMAIL] if isinstance(email, str) else "",
        tag.strip() if isinstance(tag, str) else "",
        uplink,
        downlink,
    )
