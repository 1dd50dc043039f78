"""Schemathesis hooks: some generated values are swapped for objects of the seeded world, and
one known false alarm of schemathesis is dropped (is_optional_body_false_alarm).

Without the swaps almost every path parameter is a random string and the fuzzer only ever sees
400s and 404s; with them about half the cases reach a real team, grant, feature, meter or
traffic account, so the code behind validation is fuzzed too.

- pytest (tests/test_fuzz_api.py): `install(schema.hook, world)` on the loaded schema;
- CLI (`make fuzz`, scripts/fuzz.py, or by hand against any Tally):
  `SCHEMATHESIS_HOOKS=tests.fuzz_hooks`, which installs them globally on import; the swaps
  only with `TALLY_FUZZ_WORLD=<path of the world's JSON>`.
"""

import json
import os

from hypothesis import strategies as st
from schemathesis.core import NOT_SET
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation

# parameter name -> the world's attribute holding a real value for it
_REAL_VALUES = {
    "attribution_id": ("attribution_a", "attribution_b"),
    "subject": ("attribution_a",),
    "grant_id": ("grant_id_a", "grant_id_b"),
    "key": ("feature_key",),
    "feature_key": ("feature_key",),
    "feature": ("feature_key",),
    "slug": ("meter_slug",),
    "instance_id": ("instance_id",),
    "account_uuid": ("account_uuid_a", "account_uuid_b"),
}


def _swapped(values, world: dict, draw_index: int):
    """A copy of `values` with every known name set to one of the world's real values."""
    if not isinstance(values, dict):
        return values
    swapped = dict(values)
    for name in values:
        choices = [world[attr] for attr in _REAL_VALUES.get(name, ()) if attr in world]
        if choices:
            swapped[name] = choices[draw_index % len(choices)]
    return swapped


def is_optional_body_false_alarm(failure, case) -> bool:
    """schemathesis 4.32 reports "Schema-violating request accepted / Invalid component: positive
    test case" for a negative-mode case whose only negated part, an optional body, was left out
    (POST .../void or .../reset with no body: "now", rightly 200/201). Nothing in the request
    broke the schema, so there is nothing the server should have refused."""
    if not isinstance(failure, AcceptedNegativeData) or case.body is not NOT_SET or case.meta is None:
        return False
    return all(
        info.mode.is_positive or location == ParameterLocation.BODY
        for location, info in case.meta.components.items()
    )


def _is_positive(case) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def install(hook, world: dict | None) -> None:
    """Register the hooks with `hook` (schemathesis.hook, or a loaded schema's .hook).

    Only schema-valid (positive) cases get real values (half of them, drawn by Hypothesis): a
    negative case keeps the invalid value it was generated to carry."""

    @hook
    def filter_failure(context, failure, case, response):
        return not is_optional_body_false_alarm(failure, case)

    if not world:
        return
    world = {
        key: (str(value) if key.startswith("grant_id") else value)
        for key, value in world.items()
        if not isinstance(value, dict)
    }

    @hook
    def flatmap_case(context, case):
        if not _is_positive(case):
            return st.just(case)

        def swap(draw_index):
            if draw_index is None:
                return case
            case.path_parameters = _swapped(case.path_parameters, world, draw_index)
            case.query = _swapped(case.query, world, draw_index)
            case.body = _swapped(case.body, world, draw_index)
            return case

        return st.one_of(st.none(), st.integers(min_value=0, max_value=7)).map(swap)


if os.environ.get("SCHEMATHESIS_HOOKS") == __name__:  # loaded by `schemathesis run`
    import schemathesis

    world_path = os.environ.get("TALLY_FUZZ_WORLD")
    if world_path:
        with open(world_path) as handle:
            install(schemathesis.hook, json.load(handle))
    else:
        install(schemathesis.hook, None)
