"""Mapping files: what auto-detection cannot guess about one kind of export.

```yaml
kind: playbook_runs
day_first: false          # how to read ambiguous dates like 03/04/2024
columns:                  # export header: canonical column (null = ignore the header)
  CTA ID: run_id
values:                   # canonical column: {export value: canonical value}
  outcome: {Closed Success: success, Open: null}   # null = empty
```
Loaded into a frozen `Mapping` with every scalar kept as the text the file holds (`True`,
`yes`, `1` stay those words: YAML 1.1 would make them booleans and numbers, and a value map
keyed `True` must match the `True` an export holds); an unknown key, kind or column is a
ValueError naming the file and the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.schema import IMPORTABLE_KINDS, TABLES

_KEYS = ("kind", "day_first", "columns", "values")
_DAY_FIRST = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class _TextLoader(yaml.SafeLoader):
    """safe_load, except that booleans and numbers stay the text written (null stays null)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass(frozen=True)
class Mapping:
    kind: str
    day_first: bool | None = None
    columns: dict[str, str | None] = field(default_factory=dict)  # header -> column
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)  # column -> map
    # Where the mapping came from, for error messages.
    source: str = field(default="", compare=False, repr=False)

    def __post_init__(self):
        validate_mapping(self, self.source or "mapping")

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.day_first is not None:
            out["day_first"] = self.day_first
        out["columns"] = dict(self.columns)
        out["values"] = {c: dict(m) for c, m in self.values.items()}
        return out


def validate_mapping(mapping: Mapping, source: str = "mapping") -> None:
    """Raise ValueError naming `source` and the key for anything the importer cannot use."""
    if mapping.kind not in IMPORTABLE_KINDS:
        raise ValueError(f"{source}: kind {mapping.kind!r} is not one of "
                         + ", ".join(IMPORTABLE_KINDS))
    if mapping.day_first is not None and not isinstance(mapping.day_first, bool):
        raise ValueError(f"{source}: day_first must be true or false, got {mapping.day_first!r}")
    known = TABLES[mapping.kind].column_names
    if not isinstance(mapping.columns, dict):
        raise ValueError(f"{source}: columns must be a mapping of export header: column")
    for header, column in mapping.columns.items():
        if column is not None and column not in known:
            raise ValueError(f"{source}: columns.{header}: {column!r} is not a column of "
                             f"{mapping.kind} ({', '.join(known)})")
    if not isinstance(mapping.values, dict):
        raise ValueError(f"{source}: values must be a mapping of column: {{value: value}}")
    for column, table in mapping.values.items():
        if column not in known:
            raise ValueError(f"{source}: values.{column}: not a column of {mapping.kind}")
        if not isinstance(table, dict):
            raise ValueError(f"{source}: values.{column} must map export values to values")


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping YAML file; ValueError names the file and the offending key."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: a mapping file is a YAML mapping with keys "
                         + ", ".join(_KEYS))
    for key in data:
        if key not in _KEYS:
            raise ValueError(f"{path.name}: unknown key {key!r} (allowed: {', '.join(_KEYS)})")
    if "kind" not in data:
        raise ValueError(f"{path.name}: kind is missing")
    # Keys and values are the text written (the loader resolves no booleans or numbers).
    columns = {_text(k): v for k, v in (data.get("columns") or {}).items()} \
        if isinstance(data.get("columns") or {}, dict) else data.get("columns")
    values = data.get("values") or {}
    if isinstance(values, dict):
        values = {str(c): ({_text(k): (None if v is None else _text(v)) for k, v in m.items()}
                           if isinstance(m, dict) else m) for c, m in values.items()}
    day_first = data.get("day_first")
    if isinstance(day_first, str):
        day_first = _DAY_FIRST.get(day_first.strip().casefold(), day_first)
    return Mapping(data["kind"], day_first, columns, values, source=path.name)


def _text(value) -> str:
    # Only a Mapping built in code can hold a bool; a file's scalars are already text.
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def save_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write `mapping` as YAML (the format load_mapping reads) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping.to_dict(), sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path


def as_mapping(mapping, kind: str) -> Mapping:
    """A Mapping from a path, a Mapping, or None (an empty mapping of `kind`)."""
    if mapping is None:
        return Mapping(kind)
    if isinstance(mapping, Mapping):
        return mapping
    return load_mapping(mapping)
