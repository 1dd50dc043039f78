"""How a public function of a services module meets the database: one marker each.

A service owns its transaction: `@service` runs it in `transaction.atomic(durable=True)`, so
calling it inside another transaction raises RuntimeError instead of quietly turning its
commit into a savepoint of the caller's. A composite (cycle close, a webhook handler) calls
the `*_in_callers_transaction` helpers the single services are built from, never another
service. Test atomics (pytest-django's `db`, Django's TestCase) are marked, so durable blocks
inside a test behave as in production.

The other markers say why a public function is not `@service`:
- `@service_opening_its_transaction`: work outside the database comes first (Stripe calls, a
  deadlock retry loop around the whole transaction), then it opens `durable_transaction()`
  itself, once per attempt;
- `@job`: loops over many items, each in its own durable service call, so a failing item
  does not roll back the others; never call it inside a transaction;
- `@runs_in_callers_transaction`: part of a bigger write (a hook callback, a webhook handler
  inside dj-stripe's transaction, a helper of a composite): refuses to run outside one;
- `@writes_nothing`: a key, a validator, a read or a Stripe-only call; our database is not
  written.

tests/test_services_own_their_transaction.py fails on a public function of a services module
without one of them.
"""

import functools
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

DURABLE = "durable"
OPENS_ITS_TRANSACTION = "opens its durable transaction"
JOB = "job"
CALLERS_TRANSACTION = "caller's transaction"
WRITES_NOTHING = "writes nothing"
KINDS = (DURABLE, OPENS_ITS_TRANSACTION, JOB, CALLERS_TRANSACTION, WRITES_NOTHING)

F = TypeVar("F", bound=Callable)


def durable_transaction():
    """The one transaction of a service; RuntimeError when a transaction is already open."""
    return transaction.atomic(durable=True)


def _marked(fn: F, kind: str) -> F:
    fn.__tally_service__ = kind
    return fn


def service(fn: F) -> F:
    return _marked(durable_transaction()(fn), DURABLE)


def service_of(part: F, *, name: str) -> F:
    """The durable service built from a `*_in_callers_transaction` part: the same keyword
    signature and docstring, in its own transaction (`grant_create = service_of(
    grant_create_in_callers_transaction, name="grant_create")`), so the two never drift."""
    body = part.__wrapped__  # the part without its "inside a transaction" guard

    @functools.wraps(body)
    def public(*args, **kwargs):
        return body(*args, **kwargs)

    public.__name__ = name
    public.__qualname__ = name
    return service(public)


def service_opening_its_transaction(fn: F) -> F:
    return _marked(fn, OPENS_ITS_TRANSACTION)


def job(fn: F) -> F:
    return _marked(fn, JOB)


def runs_in_callers_transaction(fn: F) -> F:
    @functools.wraps(fn)
    def inside(*args, **kwargs):
        if not connection.in_atomic_block:
            raise RuntimeError(
                f"{fn.__qualname__} runs in its caller's transaction: call it inside the transaction"
                " of the change."
            )
        return fn(*args, **kwargs)

    return _marked(inside, CALLERS_TRANSACTION)


def writes_nothing(fn: F) -> F:
    return _marked(fn, WRITES_NOTHING)
