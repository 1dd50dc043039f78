"""Every curl example in the docs runs against a live server, and its documented answer is checked.

What runs: each ```sh / ```bash block of README.md and docs/*.md is cut into commands; a
command starting with `curl` (with its `\\` continuation lines and multi-line '…' bodies) is an
example. Shell assignments of the block (`H=$(date …)`, `export X=…`) run before every later
example of the same section; other commands (make, celery, journalctl …) are not run. The
examples of one `##` section run in order, in one world: a fresh database with the demo's data
(`manage.py demo_seed`, as `make demo` loads it) and the variables the docs use (see
ENVIRONMENT below and the top of docs/api.md). Each example is run by bash with the real curl
binary (`make test` installs curl when it is missing, like Chromium; scripts/run_tests.py).

The answer, written as comment lines right after the command (docs/api.md, "Examples"):

    # 200 {"job": "usage.rate", "outcome": "ok", ..., "result": {"status": "ok", "workspaces": {...}, ...}}

- the first comment line after a command is its answer: `# <status>`, or `# HTTP/1.1 <status>
  <reason>` for `curl -i`; then optional `# Header: value` lines; then optional JSON, which may
  go on over the following comment lines; further comment lines are prose (write other
  outcomes as `# or 409 …`). Every example documents its status.
- objects: every key shown exists; without `...` (or `…`) no other key may. Arrays: the items
  shown match item by item; without `...` there are no more items.
- strings equal, except: a string with `…` is a pattern (`"team:…"` any string starting
  `team:`); an RFC 3339 time matches any RFC 3339 time; a 6-place decimal (`"12.500000"`) any
  6-place decimal; a bare `…` as a value matches anything. Numbers (counts, amounts, ids: they
  depend on the data) match any number of the same kind (integer or not), except under the keys
  in EXACT_NUMBERS (paging, ingest counts), which are exact. Otherwise types match (null: null).
- an id an answer shows (`"id": 42`) stands for the id really answered: later commands of the
  section that use it in a path (`/grants/42/void`) or a query (`object_id=42`) get the real id.

Times in request bodies are relative to now, computed by the shell (`$(date -u …)`, GNU date),
so a newcomer can paste them on any day; curl and date are subprocesses on the real clock, so
the test is `real_clock` (deselected under TALLY_TEST_CLOCK_SHIFT_DAYS).
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
INTERNAL_TOKEN = "demo-internal-token"  # the demo's; the docs show it
# Numbers are counts, amounts and ids that depend on the data: matched by type, except these.
EXACT_NUMBERS = {"page", "per_page", "accepted", "duplicates", "rejected"}
MORE = "__more__"  # what `...` / `…` becomes inside documented JSON (an object's key, an item)
ANY = "__any__"  # … where a value goes: any value


# -- reading the docs ---------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None
    has_body: bool = False


@dataclass
class Example:
    path: str  # docs/api.md
    line: int
    section: str
    command: str
    prelude: list[str]  # the section's shell assignments seen before it
    answer: Answer | None
    problem: str = ""  # why its answer could not be read


ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
STATUS_LINE = re.compile(r"^(?:HTTP/[\d.]+\s+)?(\d{3})\b\s*(.*)$")
HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$")


def _open_quotes(text: str) -> bool:
    """Whether shell quotes are still open at the end of text (backslash continuations apart)."""
    single = double = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and not single:
            i += 2
            continue
        if c == "'" and not double:
            single = not single
        elif c == '"' and not single:
            double = not double
        i += 1
    return single or double


def _comment(line: str) -> str | None:
    stripped = line.strip()
    if not stripped.startswith("#"):
        return None
    return stripped[1:].strip() if stripped[1:2] in (" ", "") else None


def _json_with_more(text: str) -> str:
    """Documented JSON with bare `...`/`…` (outside strings) turned into markers JSON can read:
    `"__more__": null` in an object, `"__more__"` in an array."""
    out, stack, i, in_string = [], [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c in "{[":
            stack.append(c)
            out.append(c)
        elif c in "}]":
            stack.pop()
            out.append(c)
        elif text.startswith("...", i) or c == "…":
            before = "".join(out).rstrip()[-1:]
            if before == ":":
                out.append(f'"{ANY}"')
            else:
                out.append(f'"{MORE}": null' if stack and stack[-1] == "{" else f'"{MORE}"')
            i += 3 if c == "." else 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _depth(text: str) -> int:
    depth, in_string, escaped = 0, False, False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
    return depth


def _read_answer(comments: list[str]) -> tuple[Answer | None, str]:
    if not comments:
        return None, "no answer documented (a `# <status> …` line right after the command)"
    match = STATUS_LINE.match(comments[0])
    if not match:
        return None, f"the first comment after the command is not an answer: {comments[0]!r}"
    answer = Answer(status=int(match.group(1)))
    rest, following = match.group(2), comments[1:]
    if rest and not rest.startswith(("{", "[")) and not comments[0].startswith("HTTP/"):
        return None, f"after the status, only JSON may follow: {comments[0]!r}"
    if comments[0].startswith("HTTP/"):
        rest = ""
        while following and HEADER_LINE.match(following[0]):
            name, value = HEADER_LINE.match(following.pop(0)).groups()
            answer.headers[name] = value
        if following and following[0].startswith(("{", "[")):
            rest = following.pop(0)
    if rest:
        text = rest
        while _depth(text) > 0 and following:
            text += " " + following.pop(0)
        try:
            answer.body = json.loads(_json_with_more(text))
        except (json.JSONDecodeError, IndexError) as exc:
            return None, f"documented JSON does not parse ({exc}): {text}"
        answer.has_body = True
    return answer, ""


def read_examples(path: Path) -> list[Example]:
    lines = path.read_text().splitlines()
    relative = str(path.relative_to(ROOT))
    examples: list[Example] = []
    section, prelude, in_block, i = "", [], False, 0
    while i < len(lines):
        line = lines[i]
        if not in_block and line.startswith("## "):
            section, prelude = line[3:].strip(), []
        if line.strip().startswith("```"):
            in_block = not in_block and line.strip() in ("```sh", "```bash")
            i += 1
            continue
        if not in_block:
            i += 1
            continue
        stripped = line.strip()
        if stripped.startswith("curl "):
            start, command = i + 1, line
            while (command.rstrip().endswith("\\") or _open_quotes(command)) and i + 1 < len(lines):
                i += 1
                command += "\n" + lines[i]
            comments = []
            while i + 1 < len(lines) and _comment(lines[i + 1]) is not None:
                i += 1
                comments.append(_comment(lines[i]))
            answer, problem = _read_answer(comments)
            examples.append(Example(relative, start, section, command, list(prelude), answer, problem))
        elif ASSIGNMENT.match(stripped):
            prelude.append(stripped)
        i += 1
    return examples


def sections() -> list[tuple[str, str, list[Example]]]:
    found: dict[tuple[str, str], list[Example]] = {}
    for path in DOC_FILES:
        for example in read_examples(path):
            found.setdefault((example.path, example.section), []).append(example)
    return [(path, section, examples) for (path, section), examples in found.items()]


# -- matching an answer --------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DECIMAL6 = re.compile(r"^-?\d+\.\d{6}$")


def match(doc, real, where: str = "$", key: str = "", ids: dict | None = None) -> list[str]:
    """The mismatches between a documented value and the real one (empty: it matches)."""
    ids = {} if ids is None else ids
    if doc == ANY:
        return []
    if isinstance(doc, dict):
        if not isinstance(real, dict):
            return [f"{where}: documented an object, got {real!r}"]
        more = MORE in doc
        problems = [f"{where}: no key {k!r}" for k in doc if k != MORE and k not in real]
        if not more:
            problems += [
                f"{where}: key {k!r} is not documented (add it, or `...`)" for k in real if k not in doc
            ]
        for k, value in doc.items():
            if k != MORE and k in real:
                problems += match(value, real[k], f"{where}.{k}", k, ids)
        return problems
    if isinstance(doc, list):
        if not isinstance(real, list):
            return [f"{where}: documented an array, got {real!r}"]
        more = MORE in doc
        shown = [item for item in doc if item != MORE]
        problems = []
        if len(real) < len(shown) or (not more and len(real) != len(shown)):
            problems.append(
                f"{where}: documented {len(shown)} item(s){' or more' if more else ''}, got {len(real)}"
            )
        for n, (value, got) in enumerate(zip(shown, real, strict=False)):
            problems += match(value, got, f"{where}[{n}]", key, ids)
        return problems
    if doc is None or isinstance(doc, bool):
        return [] if real is doc else [f"{where}: documented {json.dumps(doc)}, got {real!r}"]
    if isinstance(doc, int | float):
        if (
            isinstance(real, bool)
            or not isinstance(real, int | float)
            or isinstance(doc, int) != isinstance(real, int)
        ):
            return [f"{where}: documented a number like {doc}, got {real!r}"]
        if key in EXACT_NUMBERS:
            return [] if doc == real else [f"{where}: documented {doc}, got {real!r}"]
        if key == "id" or key.endswith("_id"):
            ids.setdefault(doc, real)
        return []
    if isinstance(doc, str):
        if not isinstance(real, str):
            return [f"{where}: documented a string {doc!r}, got {real!r}"]
        if "…" in doc or "..." in doc:
            pattern = ".*".join(re.escape(part) for part in re.split(r"…|\.\.\.", doc))
            ok = re.fullmatch(pattern, real, re.DOTALL)
        elif RFC3339.match(doc):
            ok = RFC3339.match(real)
        elif DECIMAL6.match(doc):
            ok = DECIMAL6.match(real)
        else:
            ok = doc == real
        return [] if ok else [f"{where}: documented {doc!r}, got {real!r}"]
    return [f"{where}: cannot read documented {doc!r}"]


def _with_ids(command: str, ids: dict) -> str:
    """Documented ids in paths (`/grants/42/void`) and queries (`object_id=42`) → the real ones."""

    def swap(m):
        number = int(m.group(2))
        return m.group(1) + str(ids.get(number, number))

    return re.sub(r"(/|_id=)(\d+)(?=[/\"'\s&]|$)", swap, command)


# -- running -------------------------------------------------------------------------------------

CURL_WRAPPER = """
curl() { command curl -sS --max-time 60 -D "$TALLY_DOCS_HEADERS" "$@"; }
set -o pipefail
"""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def run_example(command: str, prelude: list[str], env: dict, tmp_path: Path) -> Reply:
    headers_file = tmp_path / "headers"
    headers_file.write_text("")
    script = CURL_WRAPPER + "\n".join(prelude) + "\n" + command + "\n"
    done = subprocess.run(
        ["bash", "-c", script],
        env={**env, "TALLY_DOCS_HEADERS": str(headers_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr.strip()}\n{command}"
    raw = headers_file.read_text().replace("\r\n", "\n").strip().split("\n\n")[-1].split("\n")
    status = int(raw[0].split()[1])
    headers = {}
    for line in raw[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = done.stdout
    if re.search(r"(^|\s)-i(\s|$)", command):  # curl -i: the headers are in the output too
        body = body.replace("\r\n", "\n").split("\n\n", 1)[-1]
    return Reply(status, headers, body)


def check_reply(example: Example, reply: Reply, ids: dict) -> list[str]:
    answer = example.answer
    problems = []
    if reply.status != answer.status:
        problems.append(f"status: documented {answer.status}, got {reply.status}")
    for name, value in answer.headers.items():
        got = reply.headers.get(name.lower())
        if got is None:
            problems.append(f"header {name}: missing")
        elif value.isdigit() and not got.isdigit():
            problems.append(f"header {name}: documented a number, got {got!r}")
        elif not value.isdigit() and value != got:
            problems.append(f"header {name}: documented {value!r}, got {got!r}")
    if answer.has_body:
        try:
            real = json.loads(reply.body)
        except json.JSONDecodeError:
            return [*problems, f"the answer is not JSON: {reply.body[:300]!r}"]
        found = match(answer.body, real, ids=ids)
        if found:
            problems += [*found, f"the real answer: {json.dumps(real)[:2000]}"]
    return problems


# Sections whose example needs the server in a state the docs cannot set up themselves. Each sets
# real settings or sends real requests first; nothing is faked.
def _use_up_the_key_rate(live_server, settings, world):
    """ "Rate limits": a key's rate of 1 an hour, used once, so the documented call is over it."""
    settings.TALLY_THROTTLE_KEY = "1/hour"
    requests.get(
        f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {world['key']}"}, timeout=30
    )


SECTION_SETUP = {("docs/api.md", "Rate limits"): _use_up_the_key_rate}

SECTIONS = sections()


def test_the_docs_have_examples_and_every_curl_is_in_one():
    """Each curl the docs show in a command block is an example; none hides in prose."""
    assert len(SECTIONS) >= 6, [s[:2] for s in SECTIONS]
    stray = []
    for path in DOC_FILES:
        in_block = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip().startswith("```"):
                in_block = not in_block
            elif not in_block and re.search(r"`curl [^`]*(https?://|\$[A-Z])", line):
                stray.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not stray, "curl examples outside a ```sh block (never run): " + "\n".join(stray)
    unreadable = [f"{e.path}:{e.line}: {e.problem}" for _, _, ex in SECTIONS for e in ex if e.problem]
    assert not unreadable, "\n".join(unreadable)


def test_the_answer_convention_is_strict():
    assert match({"a": 1, MORE: None}, {"a": 1, "b": 2}) == []
    assert match({"a": 1}, {"a": 1, "b": 2}) != []
    assert match({"t": "2026-11-23T12:00:00Z"}, {"t": "2031-01-01T00:00:00.5Z"}) == []
    assert match({"c": "1.000000"}, {"c": "77.125000"}) == []
    assert match({"c": "1.000000"}, {"c": 77}) != []
    assert match({"error": "job_running"}, {"error": "job_failed"}) != []
    assert match({"who": "team:9b5a…"}, {"who": "team:123"}) != []
    assert match({"who": "team:…"}, {"who": "team:123"}) == []
    assert match([{"n": 1}, MORE], []) != []
    assert match([{"n": 1}], [{"n": 1}, {"n": 2}]) != []
    ids = {}
    assert (
        match({"id": 42, "total": 3, "per_page": 2}, {"id": 1234, "total": 9, "per_page": 2}, ids=ids) == []
    )
    assert match({"per_page": 2}, {"per_page": 50}) != []
    assert match({"n": 2}, {"n": 2.5}) != []
    answer, _ = _read_answer(['200 {"id": …, "x": 1}'])
    assert match(answer.body, {"id": "anything", "x": 1}) == []
    assert _with_ids('curl "$B/ledgers/$A/grants/42/void?object_id=42&n=42"', ids) == (
        'curl "$B/ledgers/$A/grants/1234/void?object_id=1234&n=42"'
    )
    answer, problem = _read_answer(['200 {"a": [1, ...],', ' "b": {…}, ...}', "or 409 when busy"])
    assert (
        problem == ""
        and answer.status == 200
        and answer.body == {"a": [1, MORE], "b": {MORE: None}, MORE: None}
    )


@pytest.fixture
def docs_world(live_server, reference_data, settings, tmp_path):
    """The demo's data behind a live server, and the shell variables the docs use."""
    from billing.models import Team

    assert shutil.which("curl"), "curl is missing: `apt-get install -y curl` (make test installs it as root)"
    settings.INTERNAL_SERVICE_TOKEN = INTERNAL_TOKEN
    settings.VAR_DIR = tmp_path / "var"
    with open(os.devnull, "w") as quiet:
        call_command("demo_seed", stdout=quiet)
    keys = json.loads((settings.VAR_DIR / "demo-credentials.json").read_text())
    acme = Team.objects.get(slug="acme")
    # ENVIRONMENT: what `make demo` prints as export lines (docs/api.md, "Examples").
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "U": live_server.url,
        "B": f"{live_server.url}/api/v1",
        "T": f"Authorization: Bearer {INTERNAL_TOKEN}",
        "K": f"Authorization: Bearer {keys['team_api_key']}",
        "J": "Content-Type: application/json",
        "A": acme.attribution_id,
        "INTERNAL_SERVICE_TOKEN": INTERNAL_TOKEN,
    }
    return {"env": env, "key": keys["team_api_key"], "tmp": tmp_path}


@pytest.mark.real_clock("the examples' times come from the shell's date, on the real clock")
@pytest.mark.parametrize(
    "path,section,examples", SECTIONS, ids=[f"{path}:{section}" for path, section, _ in SECTIONS]
)
def test_the_examples_of_a_section_run_as_documented(
    path, section, examples, docs_world, live_server, settings
):
    setup = SECTION_SETUP.get((path, section))
    if setup:
        setup(live_server, settings, docs_world)
    ids: dict = {}
    failures = []
    for example in examples:
        assert example.answer, f"{example.path}:{example.line}: {example.problem}"
        command = _with_ids(example.command, ids)
        reply = run_example(command, example.prelude, docs_world["env"], docs_world["tmp"])
        problems = check_reply(example, reply, ids)
        if problems:
            failures.append(f"{example.path}:{example.line}\n{example.command}\n  " + "\n  ".join(problems))
    assert not failures, f"{len(failures)} example(s) differ from their docs:\n\n" + "\n\n".join(failures)


def test_relative_times_in_the_docs_are_what_gnu_date_prints():
    """The docs compute times with GNU date (`date -u -d …`); the machine running them has it."""
    printed = subprocess.run(
        ["date", "-u", "-d", "-2 hours", "+%Y-%m-%dT%H"], capture_output=True, text=True, check=True
    ).stdout.strip()
    datetime.strptime(printed, "%Y-%m-%dT%H")
