"""The playbook library: YAML definitions in `playbooks/` loaded into frozen dataclasses.

A file is read with PyYAML's safe loader (libyaml's CSafeLoader when available; a
`!!python/...` tag is refused) and validated field by field; every error names the file, the
field and the line ("at_risk.yaml:14: steps[1].due_day: must be a whole number of days, got
'soon'"). Unknown keys are errors, so a typo never silently drops content. Line numbers come
from the composed node tree, which keeps each node's mark.

Definitions enrich the analysis but never gate it: `undefined_playbooks` lists playbooks that
appear in the data without a file.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import yaml

from analysis.ingest.names import slugify
from analysis.playbooks.triggers import TriggerError, parse as parse_trigger

CATEGORIES = ("lifecycle", "situational")
TRIGGER_KINDS = ("lifecycle_stage", "customer_event", "scheduled", "csm_defined", "vendor_driven")
OUTCOME_METRICS = ("renewal_rate", "success_rate")
TEMPLATE_KINDS = ("email", "call_script", "checklist", "agenda", "message")
COMPARISONS = (">=", "<=", ">", "<", "==")
# libyaml's loader parses ~10x faster than the pure-Python one and constructs the same safe
# types; PyYAML built without libyaml falls back to the pure-Python SafeLoader.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlaybookError(ValueError):
    """A playbook file that cannot be loaded; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# -- the definition -------------------------------------------------------------------------
@dataclass(frozen=True)
class Trigger:
    kind: str  # one of TRIGGER_KINDS
    description: str
    expression: str | None = None  # machine-checkable form, see analysis.playbooks.triggers

    @property
    def checkable(self) -> bool:
        return self.expression is not None


@dataclass(frozen=True)
class Branch:
    condition: str
    goto_step: int | None = None
    goto_playbook: str | None = None

    @property
    def target(self) -> str:
        return f"step {self.goto_step}" if self.goto_step is not None else f"playbook {self.goto_playbook}"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    owner_role: str
    due_day: int  # days after day zero (negative before it, e.g. renewal's day -90)
    call_to_action: str
    activities: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()  # ids of the playbook's templates
    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class Milestone:
    day: int
    title: str


@dataclass(frozen=True)
class SuccessCriterion:
    metric: str
    comparison: str
    threshold: float
    window_days: int
    description: str = ""

    @property
    def text(self) -> str:
        return f"{self.metric} {self.comparison} {self.threshold:g} within {self.window_days} days"


@dataclass(frozen=True)
class Resource:
    title: str
    description: str = ""


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    kind: str  # one of TEMPLATE_KINDS
    body: str
    subject: str | None = None


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    date: date
    changes: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Playbook:
    id: str
    name: str
    category: str
    scenario: str
    version: str
    introduced_on: date
    owner: str
    outcome_metric: str
    summary: str
    when_to_use: str
    day_zero: str
    triggers: tuple[Trigger, ...]
    steps: tuple[Step, ...]
    timeline: tuple[Milestone, ...]
    success_criteria: tuple[SuccessCriterion, ...]
    pitfalls: tuple[str, ...]
    resources: tuple[Resource, ...]
    templates: tuple[Template, ...]
    changelog: tuple[ChangelogEntry, ...]
    source: str = ""
    # The names its runs carry in exports ("Save Play - At Risk"): runs named so are its runs.
    aliases: tuple[str, ...] = ()

    @property
    def trigger_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.kind for t in self.triggers))

    @property
    def checkable_triggers(self) -> tuple[Trigger, ...]:
        return tuple(t for t in self.triggers if t.checkable)

    def template(self, template_id: str) -> Template:
        return next(t for t in self.templates if t.id == template_id)


# -- reading YAML with line numbers --------------------------------------------------------
def _line_map(node, path=(), out=None) -> dict[tuple, int]:
    """path -> 1-based line for every key and list item under `node`; records duplicate keys."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (key.value,)
            if sub in out:
                out.setdefault(("__duplicates__",), []).append((sub, key.start_mark.line + 1))
            out[sub] = key.start_mark.line + 1
            out[("__raw__",) + sub] = value.value if isinstance(value, yaml.ScalarNode) else None
            _line_map(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_map(item, path + (i,), out)
    return out


def _field(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _Reader:
    """Validates plain YAML data against the definition, collecting every error."""

    def __init__(self, file: str, lines: dict):
        self.file, self.lines, self.errors = file, lines, []

    def line(self, path: tuple) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(f"{self.file}:{self.line(path)}: {_field(path)}: {message}")

    def mapping(self, value, path, required: tuple, optional: tuple = ()) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping of fields, got {_kind(value)}")
            return None
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                self.error(path + (key,), f"unknown key {key!r} (allowed: {allowed})")
        for key in required:
            if key not in value or value[key] is None:
                self.error(path, f"missing required field {key!r}")
        return value

    def text(self, value, path, required=True) -> str | None:
        if value is None and not required:
            return None
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.error(path, f"must be a non-empty text, got {_kind(value)}")
        return None

    def texts(self, value, path) -> tuple[str, ...]:
        items = self.items(value, path)
        return tuple(t for i, v in enumerate(items) if (t := self.text(v, path + (i,))))

    def integer(self, value, path, what: str = "a whole number of days") -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.error(path, f"must be {what}, got {_kind(value)}")
        return None

    def number(self, value, path) -> float | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        self.error(path, f"must be a number, got {_kind(value)}")
        return None

    def date_(self, value, path) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.error(path, f"must be a date like 2024-07-01, got {_kind(value)}")
            return None

    def choice(self, value, path, allowed: tuple) -> str | None:
        if value in allowed:
            return value
        self.error(path, f"must be one of {', '.join(allowed)}, got {_kind(value)}")
        return None

    def version(self, value, path) -> str | None:
        # `version: 1.10` is read by YAML as the float 1.1: take the text as written.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(self.lines.get(("__raw__",) + path, value))
        return self.text(value, path)

    def items(self, value, path, required=False) -> list:
        if value is None:  # a missing required list is reported once, by `mapping`
            return []
        if isinstance(value, list) and (value or not required):
            return value
        self.error(path, "must be a non-empty list" if isinstance(value, list)
                   else f"must be a list, got {_kind(value)}")
        return []


def _kind(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


# -- building the dataclasses ---------------------------------------------------------------
_TOP_REQUIRED = ("id", "name", "category", "scenario", "version", "introduced_on", "owner",
                 "when_to_use", "steps", "changelog")
_TOP_OPTIONAL = ("outcome_metric", "summary", "day_zero", "timeline", "success_criteria",
                 "pitfalls", "resources", "templates", "aliases")


def _trigger(r: _Reader, raw, path) -> Trigger | None:
    d = r.mapping(raw, path, ("kind", "description"), ("expression",))
    if d is None:
        return None
    kind = r.choice(d.get("kind"), path + ("kind",), TRIGGER_KINDS)
    description = r.text(d.get("description"), path + ("description",))
    expression = r.text(d.get("expression"), path + ("expression",), required=False)
    if expression is not None:
        try:
            parse_trigger(expression)
        except TriggerError as exc:
            r.error(path + ("expression",), f"bad trigger {expression!r}: {exc}")
            return None
    return Trigger(kind, description, expression) if kind and description else None


def _branch(r: _Reader, raw, path) -> Branch | None:
    d = r.mapping(raw, path, ("condition",), ("goto_step", "goto_playbook"))
    if d is None:
        return None
    condition = r.text(d.get("condition"), path + ("condition",))
    if ("goto_step" in d) == ("goto_playbook" in d):
        r.error(path, "needs exactly one of goto_step or goto_playbook")
        return None
    if "goto_step" in d:
        step = r.integer(d["goto_step"], path + ("goto_step",), "a step number")
        return Branch(condition, goto_step=step) if condition and step is not None else None
    target = r.text(d["goto_playbook"], path + ("goto_playbook",))
    return Branch(condition, goto_playbook=target) if condition and target else None


def _step(r: _Reader, raw, path) -> Step | None:
    d = r.mapping(raw, path, ("number", "title", "owner_role", "due_day", "call_to_action"),
                  ("activities", "resources", "templates", "branches"))
    if d is None:
        return None
    values = dict(
        number=r.integer(d.get("number"), path + ("number",), "a step number"),
        title=r.text(d.get("title"), path + ("title",)),
        owner_role=r.text(d.get("owner_role"), path + ("owner_role",)),
        due_day=r.integer(d.get("due_day"), path + ("due_day",)),
        call_to_action=r.text(d.get("call_to_action"), path + ("call_to_action",)),
    )
    activities = r.texts(d.get("activities"), path + ("activities",))
    resources = r.texts(d.get("resources"), path + ("resources",))
    templates = r.texts(d.get("templates"), path + ("templates",))
    branches = tuple(b for i, raw_b in enumerate(r.items(d.get("branches"), path + ("branches",)))
                     if (b := _branch(r, raw_b, path + ("branches", i))))
    if any(v is None for v in values.values()):
        return None
    return Step(**values, activities=activities, resources=resources, templates=templates,
                branches=branches)


def _milestone(r, raw, path):
    d = r.mapping(raw, path, ("day", "title"))
    if d is None:
        return None
    day, title = r.integer(d.get("day"), path + ("day",)), r.text(d.get("title"), path + ("title",))
    return Milestone(day, title) if day is not None and title else None


def _criterion(r, raw, path):
    d = r.mapping(raw, path, ("metric", "threshold", "window_days"), ("comparison", "description"))
    if d is None:
        return None
    metric = r.text(d.get("metric"), path + ("metric",))
    comparison = r.choice(d.get("comparison", ">="), path + ("comparison",), COMPARISONS)
    threshold = r.number(d.get("threshold"), path + ("threshold",))
    window = r.integer(d.get("window_days"), path + ("window_days",))
    description = r.text(d.get("description"), path + ("description",), required=False) or ""
    if None in (metric, comparison, threshold, window):
        return None
    return SuccessCriterion(metric, comparison, threshold, window, description)


def _resource(r, raw, path):
    d = r.mapping(raw, path, ("title",), ("description",))
    if d is None:
        return None
    title = r.text(d.get("title"), path + ("title",))
    description = r.text(d.get("description"), path + ("description",), required=False) or ""
    return Resource(title, description) if title else None


def _template(r, raw, path):
    d = r.mapping(raw, path, ("id", "title", "kind", "body"), ("subject",))
    if d is None:
        return None
    values = (r.text(d.get("id"), path + ("id",)), r.text(d.get("title"), path + ("title",)),
              r.choice(d.get("kind"), path + ("kind",), TEMPLATE_KINDS),
              r.text(d.get("body"), path + ("body",)))
    subject = r.text(d.get("subject"), path + ("subject",), required=False)
    return None if None in values else Template(*values, subject=subject)


def _change(r, raw, path):
    d = r.mapping(raw, path, ("version", "date", "changes", "why"))
    if d is None:
        return None
    version = r.version(d.get("version"), path + ("version",))
    when = r.date_(d.get("date"), path + ("date",))
    changes = r.texts(d.get("changes"), path + ("changes",))
    if d.get("changes") == []:
        r.error(path + ("changes",), "must be a non-empty list")
    why = r.text(d.get("why"), path + ("why",))
    return ChangelogEntry(version, when, changes, why) if version and when and changes and why else None


def _list(r: _Reader, raw, path, build, required=False) -> tuple:
    return tuple(x for i, item in enumerate(r.items(raw, path, required))
                 if (x := build(r, item, path + (i,))))


def _when_to_use(r: _Reader, raw, path) -> tuple[str | None, tuple[Trigger, ...]]:
    d = r.mapping(raw, path, ("description", "triggers"))
    if d is None:
        return None, ()
    description = r.text(d.get("description"), path + ("description",))
    triggers = _list(r, d.get("triggers"), path + ("triggers",), _trigger, required=True)
    return description, triggers


def _cross_checks(r: _Reader, pb: dict) -> None:
    """Consistency across fields: step numbering, branch and template references, versions."""
    steps, numbers = pb["steps"], [s.number for s in pb["steps"]]
    if numbers != list(range(1, len(numbers) + 1)):
        r.error(("steps",), f"steps must be numbered 1, 2, 3 ... in order, got {numbers}")
    template_ids = {t.id for t in pb["templates"]}
    for i, step in enumerate(steps):
        for j, branch in enumerate(step.branches):
            if branch.goto_step is not None and branch.goto_step not in numbers:
                r.error(("steps", i, "branches", j, "goto_step"),
                        f"step {branch.goto_step} does not exist")
        for ref in step.templates:
            if ref not in template_ids:
                r.error(("steps", i, "templates"), f"no template with id {ref!r}")
    if pb["changelog"] and pb["version"] not in {c.version for c in pb["changelog"]}:
        r.error(("changelog",), f"has no entry for the current version {pb['version']!r}")
    if pb["id"] and slugify(pb["id"]) != pb["id"]:
        r.error(("id",), f"must be lower case letters, digits and _ (like {slugify(pb['id'])!r})")
    seen: dict[str, str] = {}
    for i, alias in enumerate(pb["aliases"]):
        if not slugify(alias):
            r.error(("aliases", i), f"{alias!r} has no letter or digit to match a run by")
        elif slugify(alias) in seen:
            r.error(("aliases", i), f"{alias!r} is the same name as {seen[slugify(alias)]!r} "
                    "(case, spacing and punctuation are ignored)")
        seen.setdefault(slugify(alias), alias)


def _build(r: _Reader, data, source: str) -> Playbook | None:
    d = r.mapping(data, (), _TOP_REQUIRED, _TOP_OPTIONAL)
    if d is None:
        return None
    scenario = r.text(d.get("scenario"), ("scenario",))
    default_metric = "renewal_rate" if scenario == "renewal" else "success_rate"
    description, triggers = _when_to_use(r, d.get("when_to_use"), ("when_to_use",))
    pb = dict(
        id=r.text(d.get("id"), ("id",)), name=r.text(d.get("name"), ("name",)),
        category=r.choice(d.get("category"), ("category",), CATEGORIES), scenario=scenario,
        version=r.version(d.get("version"), ("version",)),
        introduced_on=r.date_(d.get("introduced_on"), ("introduced_on",)),
        owner=r.text(d.get("owner"), ("owner",)),
        outcome_metric=r.choice(d.get("outcome_metric", default_metric), ("outcome_metric",),
                                OUTCOME_METRICS),
        summary=r.text(d.get("summary"), ("summary",), required=False) or "",
        when_to_use=description,
        day_zero=r.text(d.get("day_zero"), ("day_zero",), required=False)
        or "the day the playbook is opened",
        triggers=triggers,
        steps=_list(r, d.get("steps"), ("steps",), _step, required=True),
        timeline=_list(r, d.get("timeline"), ("timeline",), _milestone),
        success_criteria=_list(r, d.get("success_criteria"), ("success_criteria",), _criterion),
        pitfalls=r.texts(d.get("pitfalls"), ("pitfalls",)),
        resources=_list(r, d.get("resources"), ("resources",), _resource),
        templates=_list(r, d.get("templates"), ("templates",), _template),
        changelog=_list(r, d.get("changelog"), ("changelog",), _change, required=True),
        aliases=r.texts(d.get("aliases"), ("aliases",)),
    )
    _cross_checks(r, pb)
    if r.errors:
        return None
    return Playbook(**pb, source=source)


# -- public API -----------------------------------------------------------------------------
def _read_yaml(path: Path) -> tuple[object, dict]:
    """The file's plain data and its line map; raises PlaybookError for unreadable YAML."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError([f"{name}:1: (file): cannot be read: {exc}"]) from exc
    # One parse serves both the data and the line map; construct_document is what safe_load
    # does with the node, so the same safe constructor refuses Python tags.
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        # Lines first: constructing flattens merge keys (<<) inside the node.
        lines = _line_map(node) if node is not None else {}
        data = loader.construct_document(node) if node is not None else None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PlaybookError([f"{name}:{line}: (file): refused: {exc.problem}; playbook files "
                             "are plain YAML, tags such as !!python/object are not allowed"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookError([f"{name}:{line}: (file): not valid YAML: {problem}"]) from exc
    finally:
        loader.dispose()
    return data, lines


def load_playbook(path: str | Path) -> Playbook:
    """One playbook definition from a YAML file.

    Returns
    -------
    Playbook
        The validated definition. Raises PlaybookError listing every problem, each as
        "FILE:LINE: FIELD: message", when the file is not a valid definition.
    """
    path = Path(path)
    data, lines = _read_yaml(path)
    reader = _Reader(path.name, lines)
    for dup_path, line in lines.get(("__duplicates__",), []):
        reader.errors.append(f"{path.name}:{line}: {_field(dup_path)}: appears twice")
    if data is None:
        reader.error((), "the file is empty")
    playbook = _build(reader, data, str(path)) if data is not None else None
    if reader.errors:
        raise PlaybookError(sorted(reader.errors, key=_line_of))
    return playbook


def _line_of(error: str) -> int:
    return int(error.split(":")[1])


def _files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_folder(folder) -> tuple[tuple[Playbook, ...], tuple[str, ...], int]:
    files = _files(folder)
    playbooks, errors, seen = [], [], {}
    for path in files:
        try:
            pb = load_playbook(path)
        except PlaybookError as exc:
            errors.extend(exc.errors)
            continue
        if pb.id in seen:
            errors.append(f"{path.name}:1: id: {pb.id!r} is already defined in {seen[pb.id]}")
            continue
        seen[pb.id] = path.name
        playbooks.append(pb)
    errors.extend(_alias_clashes(playbooks))
    return tuple(sorted(playbooks, key=lambda p: p.id)), tuple(errors), len(files)


def _branch_errors(playbooks, targets: set[str]) -> list[str]:
    """A branch may send the CSM to another playbook: it must be one of `targets` (the
    folder's ids and the template library's: an adopted at_risk may still send the CSM to the
    escalation template)."""
    errors = []
    for pb in playbooks:
        for i, step in enumerate(pb.steps):
            for j, branch in enumerate(step.branches):
                if branch.goto_playbook and branch.goto_playbook not in targets:
                    path = ("steps", i, "branches", j, "goto_playbook")
                    reader = _Reader(Path(pb.source).name, _read_yaml(Path(pb.source))[1])
                    reader.error(path, f"no playbook with id {branch.goto_playbook!r} in the folder")
                    errors.extend(reader.errors)
    return errors


def _alias_clashes(playbooks) -> list[str]:
    """An alias naming another playbook of the folder would make a run two playbooks'."""
    owner: dict[str, Playbook] = {}
    for pb in playbooks:
        for name in (pb.id, pb.name):
            owner.setdefault(slugify(name), pb)
    errors = []
    for pb in playbooks:
        for alias in pb.aliases:
            other = owner.get(slugify(alias))
            if other is not None and other.id != pb.id:
                errors.append(f"{Path(pb.source).name}:1: aliases: {alias!r} already names "
                              f"the playbook {other.id!r} ({Path(other.source).name})")
            else:
                owner[slugify(alias)] = pb
    return errors


_CACHE: dict = {}


def _cached(folder):
    # Pages reload the library on every rerun; re-read only when a file changed. One entry
    # per folder: the templates and the organisation's folder are both read on most pages.
    files = _files(folder)
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    found = _CACHE.get(str(folder))
    if found is None or found[0] != signature:
        if len(_CACHE) > 8:  # tests make many temporary folders
            _CACHE.clear()
        found = _CACHE[str(folder)] = (signature, _load_folder(folder))
    return found[1]


def check_folder(folder: str | Path, templates: str | Path | None = None
                 ) -> tuple[list[str], int]:
    """Validate every YAML file of a folder.

    Parameters
    ----------
    folder : the folder of definitions.
    templates : the template library, whose ids a branch may name besides the folder's own
        (None: the folder's own only).

    Returns
    -------
    (errors, count)
        errors: one "FILE:LINE: FIELD: message" line per problem (empty when all are valid);
        count: the number of YAML files checked.
    """
    if not Path(folder).is_dir():
        return [f"{folder}: no such folder"], 0
    playbooks, errors, count = _load_folder(folder)
    targets = {p.id for p in playbooks}
    if templates is not None and Path(templates).is_dir():
        targets |= {p.id for p in load_playbooks(templates)}
    return [*errors, *_branch_errors(playbooks, targets)], count


def load_playbooks(folder: str | Path) -> tuple[Playbook, ...]:
    """Every valid definition of the folder, sorted by id.

    Invalid files are skipped; `check_folder` reports them.
    """
    return _cached(folder)[0]


def playbook_ids_by_name(folder: str | Path) -> dict[str, str]:
    """How exports may name a playbook -> its id.

    Keys are the id itself and, for its name and each of its aliases, `slugify(name)`
    ("onboarding_first_90_days") and the name in lower case with spacing collapsed
    ("onboarding: first 90 days"). The importer resolves with the organisation's folder
    (analysis.playbooks.catalog.definitions_folder), never the templates it did not adopt.
    """
    out = {}
    for pb in load_playbooks(folder):
        out[pb.id] = pb.id
        for name in (pb.name, *pb.aliases):
            out.setdefault(slugify(name), pb.id)
            out.setdefault(" ".join(name.split()).casefold(), pb.id)
    return out


def _haystack(pb: Playbook) -> str:
    parts = [pb.id, pb.name, pb.scenario, pb.summary, pb.when_to_use]
    parts += [f"{t.description} {t.expression or ''}" for t in pb.triggers]
    for s in pb.steps:
        parts += [s.title, s.call_to_action, *s.activities, *s.resources,
                  *(b.condition for b in s.branches)]
    parts += [f"{t.title} {t.subject or ''} {t.body}" for t in pb.templates]
    return " ".join(parts).casefold()


def search_playbooks(playbooks, text: str | None = None, category: str | None = None,
                     scenario: str | None = None, trigger_kind: str | None = None
                     ) -> tuple[Playbook, ...]:
    """The playbooks matching every word of `text` and each filter given.

    Words are matched case-insensitively anywhere in the name, summary, when-to-use text,
    triggers, steps (titles, activities, calls to action, branches) and templates.
    """
    words = (text or "").casefold().split()
    return tuple(
        pb for pb in playbooks
        if (category is None or pb.category == category)
        and (scenario is None or pb.scenario == scenario)
        and (trigger_kind is None or trigger_kind in pb.trigger_kinds)
        and all(w in _haystack(pb) for w in words)
    )


def undefined_playbooks(store, playbooks) -> pd.DataFrame:
    """Playbooks seen in playbook_runs without a definition file.

    Returns
    -------
    DataFrame
        playbook_id, scenario (most common), runs, first_opened_on — one row per undefined id.
    """
    defined = [pb.id for pb in playbooks]
    return store.query("""
        select playbook_id, mode(scenario) as scenario, count(*) as runs,
               min(opened_on) as first_opened_on
        from playbook_runs
        where playbook_id is not null and playbook_id <> ''
          and not list_contains(?, playbook_id)
        group by playbook_id order by playbook_id
    """, [defined])


def quick_reference(pb: Playbook) -> str:
    """A one-screen Markdown card: triggers, essential steps, key dates, success, pitfalls."""
    lines = [f"# {pb.name} (v{pb.version})", "",
             f"*{pb.category.title()} playbook · owner: {pb.owner} · day 0 = {pb.day_zero}*", "",
             "## Use it when", pb.when_to_use, ""]
    lines += [f"- {t.description}" + (f" — `{t.expression}`" if t.expression else "")
              for t in pb.triggers]
    lines += ["", "## Steps"]
    for s in pb.steps:
        lines.append(f"{s.number}. **{s.title}** — {s.owner_role}, day {s.due_day}: "
                     f"{s.call_to_action}")
        lines += [f"   - if {b.condition} → {b.target}" for b in s.branches]
    if pb.timeline:
        lines += ["", "## Timeline"] + [f"- day {m.day}: {m.title}" for m in pb.timeline]
    if pb.success_criteria:
        lines += ["", "## Success looks like"] + [f"- {c.text}" for c in pb.success_criteria]
    if pb.pitfalls:
        lines += ["", "## Avoid"] + [f"- {p}" for p in pb.pitfalls]
    if pb.templates:
        lines += ["", "## Templates"] + [f"- {t.title} ({t.kind.replace('_', ' ')})"
                                         for t in pb.templates]
    return "\n".join(lines) + "\n"


def playbook_table(playbooks) -> pd.DataFrame:
    """One row per playbook for a list view.

    Returns
    -------
    DataFrame
        playbook_id, name, category, scenario, version, introduced_on, owner,
        trigger_kinds (comma-separated), steps (count).
    """
    columns = ["playbook_id", "name", "category", "scenario", "version", "introduced_on",
               "owner", "trigger_kinds", "steps"]
    return pd.DataFrame(
        [(p.id, p.name, p.category, p.scenario, p.version, p.introduced_on, p.owner,
          ", ".join(p.trigger_kinds), len(p.steps)) for p in playbooks], columns=columns)


def steps_table(pb: Playbook) -> pd.DataFrame:
    """The steps of a playbook: number, title, owner_role, due_day, call_to_action, branches
    (each "if CONDITION → TARGET", "; "-separated)."""
    return pd.DataFrame(
        [(s.number, s.title, s.owner_role, s.due_day, s.call_to_action,
          "; ".join(f"if {b.condition} → {b.target}" for b in s.branches)) for s in pb.steps],
        columns=["number", "title", "owner_role", "due_day", "call_to_action", "branches"])
