"""Traffic from exporters (DESIGN §5): pull cumulative counters, minute facts, replay-safe rating.

Modules, one purpose each:
- `config`   settings: exporter sources, IMAGE, defaults (validated at startup);
- `deltas`   pure: cumulative counters → closed minutes (no ORM);
- `pricing`  pure: included quota first, then bytes * price * multipliers (Decimal only);
- `client`   one page of `GET /v1/snapshots/window`, parsed and checked;
- `store`    a page (or a seal) applied to the database in one transaction;
- `services` the collect-and-rate run, sources, accounts;
- `selectors`, `api`  ops and account reads;
- `devtools` a realistic exporter (HTTP) for tests, the demo and the benchmark.
"""
