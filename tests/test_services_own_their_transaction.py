"""Services own their transaction: every public function of a services module says how it meets
the database with one of core.services_tx's markers, and a durable service refuses to run
inside another transaction (so one service calling another fails at once)."""

import importlib
import inspect
import pkgutil

import pytest
from django.db import transaction

from core.services_tx import DURABLE, KINDS, OPENS_ITS_TRANSACTION
from usage.tests.factories import new_attribution_id

APPS = ("core", "audit", "usage", "traffic", "credits", "billing")


def _services_modules():
    for app in APPS:
        package = importlib.import_module(f"{app}.services")
        yield package
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            yield importlib.import_module(f"{package.__name__}.{info.name}")


def _public_functions():
    for module in _services_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                yield f"{module.__name__}.{name}", fn


def test_every_public_function_of_a_services_module_is_marked():
    unmarked = [
        name for name, fn in _public_functions() if getattr(fn, "__tally_service__", None) not in KINDS
    ]
    assert unmarked == [], f"mark these with a core.services_tx decorator: {unmarked}"


def test_a_service_that_opens_its_transaction_does_open_a_durable_one():
    missing = [
        name
        for name, fn in _public_functions()
        if fn.__tally_service__ == OPENS_ITS_TRANSACTION
        and "durable_transaction()" not in inspect.getsource(fn)
    ]
    assert missing == []


def test_the_services_are_many_and_durable():
    durable = [name for name, fn in _public_functions() if fn.__tally_service__ == DURABLE]
    assert "usage.services.cost_centers.cost_center_set" in durable
    assert "billing.services.cycles.cycle_close" in durable
    assert len(durable) > 20


@pytest.mark.django_db
def test_a_durable_service_refuses_to_run_inside_another_transaction():
    from usage.services import cost_center_get_or_create

    who = new_attribution_id()
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        cost_center_get_or_create(attribution_id=who)


@pytest.mark.django_db(transaction=True)
def test_a_helper_that_runs_in_its_callers_transaction_refuses_to_run_without_one():
    from usage.services import cost_centers_create_missing

    with pytest.raises(RuntimeError, match="caller's transaction"):
        cost_centers_create_missing(attribution_ids=[new_attribution_id()], now=None)
