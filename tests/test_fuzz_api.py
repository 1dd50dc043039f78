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

from collections import Counter
from itertools import islice

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

from tests import fuzz_hooks
from tests.api_world import build_api_world, start_exporter

FUZZ_EXAMPLES = 12  # Hypothesis-drawn requests per operation and credential
COVERAGE_CASES = 25  # at most this many of schemathesis's deterministic coverage cases per operation
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


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # minus the false alarm fuzz_hooks.filter_failure drops
    error_shape,
]


@pytest.fixture
def fuzz_world(live_server, reference_data):
    exporter = start_exporter()
    world = build_api_world(exporter_url=exporter.url)
    yield world
    exporter.stop()


def _run(case, statuses: Counter) -> None:
    response = case.call_and_validate(checks=CHECKS)
    statuses[response.status_code // 100] += 1


def fuzz_every_operation(base_url: str, world, token: str) -> tuple[int, Counter, list[str]]:
    """Every operation of the served schema: schemathesis's coverage cases (boundaries, wrong
    types, missing and extra parts; the first COVERAGE_CASES) and Hypothesis-drawn valid and
    invalid requests. (operations, status classes seen, one line per failing operation)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/")
    schema.config.update(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    fuzz_hooks.install(schema.hook, vars(world))
    failures, statuses, count = [], Counter(), 0
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        coverage = schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=generation)
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

        @FUZZ_SETTINGS
        @given(case=strategy)
        def fuzz(case):
            _run(case, statuses)

        try:
            for case in islice(coverage, COVERAGE_CASES):
                _run(case, statuses)
            fuzz()
        except Exception as exc:  # every operation's first failure, reported together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return count, statuses, failures


@pytest.mark.parametrize("credential", ["internal token", "team A API key"])
def test_every_operation_answers_as_the_schema_says(live_server, fuzz_world, credential):
    token = fuzz_world.internal_token if credential == "internal token" else fuzz_world.key_a
    count, statuses, failures = fuzz_every_operation(live_server.url, fuzz_world, token)
    assert not failures, "\n\n".join(failures)
    assert count >= 43  # every operation of the schema was fuzzed (more when endpoints are added)
    # Not a run of 401s: the credential was sent, and real objects were reached.
    assert statuses[2] > 40 and statuses[4] > 200, statuses
