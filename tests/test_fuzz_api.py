"""Schemathesis over real HTTP against the live server, from the server's own /api/schema/.

Every operation, with schema-valid and schema-violating requests, once as the internal token
and once as team A's API key, over a seeded world (tests/api_world.py) whose teams, grants,
features, meters and traffic account the hooks (tests/fuzz_hooks.py) put into about half the
valid requests. Checks on every response:
- no 5xx;
- every 4xx is `{"error": <str>, "message": <str>, ...}` (documented or not);
- the status code is documented, and the body matches the documented schema;
- a request the schema forbids is refused (4xx).
The example count is bounded (FUZZ_EXAMPLES below); `make fuzz` runs far more.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NOT_SET
from schemathesis.core.parameters import ParameterLocation

from tests import fuzz_hooks
from tests.api_world import build_api_world, start_exporter

FUZZ_EXAMPLES = 12  # per operation and credential: 43 operations x 2 x 12 ~ 1,000 requests
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # report the first failure, do not shrink
)


class ErrorShapeViolation(AssertionError):
    pass


def error_shape(ctx, response, case):
    """Every 4xx body is the one error shape (core/errors.py), documented or not (405, 415)."""
    if 400 <= response.status_code < 500:
        body = response.json()
        if not (
            isinstance(body, dict)
            and isinstance(body.get("error"), str)
            and isinstance(body.get("message"), str)
        ):
            raise ErrorShapeViolation(f"{case.method} {case.formatted_path}: {response.status_code} {body!r}")


def schema_violations_refused(ctx, response, case):
    """negative_data_rejection, without schemathesis's "Invalid component: positive test case":
    a negative-mode case none of whose parts is negative (e.g. an optional body left out of
    POST .../void, which rightly voids now)."""
    meta = case.meta
    if meta is not None:
        negative = {
            location
            for location, info in meta.components.items()
            if not info.mode.is_positive and not (location == ParameterLocation.BODY and case.body is NOT_SET)
        }
        if not negative:
            return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    schema_violations_refused,
    error_shape,
]


@pytest.fixture
def fuzz_world(live_server, reference_data):
    exporter = start_exporter()
    world = build_api_world(exporter_url=exporter.url)
    yield world
    exporter.stop()


def fuzz_every_operation(base_url: str, world, token: str) -> tuple[int, list[str]]:
    """Run every operation of the served schema; (operations run, one line per failure)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/")
    schema.config.update(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    fuzz_hooks.install(schema.hook, vars(world))
    failures, count = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @FUZZ_SETTINGS
        @given(case=strategy)
        def fuzz(case):
            case.call_and_validate(checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # every check failure of every operation, reported together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return count, failures


@pytest.mark.parametrize("credential", ["internal token", "team A API key"])
def test_every_operation_answers_as_the_schema_says(live_server, fuzz_world, credential):
    token = fuzz_world.internal_token if credential == "internal token" else fuzz_world.key_a
    count, failures = fuzz_every_operation(live_server.url, fuzz_world, token)
    assert count >= 43  # every operation of the schema was fuzzed (more when endpoints are added)
    assert not failures, "\n\n".join(failures)
