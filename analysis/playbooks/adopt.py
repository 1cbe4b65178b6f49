"""Adopting a template: the organisation takes a shipped definition as its own.

`adopt_template` copies a template's YAML into the organisation's folder (`org_playbooks_dir`)
with the organisation's own introduced_on and the names its runs carry in exports (`aliases`).
The copy keeps the template's text and comments; only those two fields change. Runs already
imported under one of those names are then attributed to the adopted id by
`attribute_runs`, recorded like an import so it shows in the history and can be undone.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.ingest.names import slugify
from analysis.playbooks.catalog import org_folder, templates_folder
from analysis.playbooks.library import (Playbook, PlaybookError, load_playbook, load_playbooks,
                                        playbook_ids_by_name)
from analysis.playbooks.launch import as_date
from analysis.settings import Settings
from analysis.store import Store

_INTRODUCED = re.compile(r"^introduced_on:.*$", re.MULTILINE)
_ALIASES = re.compile(r"^aliases:.*(?:\n(?:[ \t]+.*|-.*))*", re.MULTILINE)


def _yaml_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def adopt_template(template_id: str, introduced_on, aliases=(), *, settings: Settings,
                   store: Store | None = None) -> Path:
    """Copy template `template_id` into the organisation's folder as its own definition.

    Parameters
    ----------
    template_id : id of a template (e.g. "at_risk").
    introduced_on : when the organisation introduced it (date or ISO text).
    aliases : names its runs carry in exports ("Save Play - At Risk").
    settings : the request's settings: the organisation's folder (org_playbooks_dir) and the
        template library (playbooks_dir).
    store : when given, runs already stored under the template's name or an alias are
        attributed to it (`attribute_runs`).

    Returns
    -------
    Path of the written file. Raises ValueError (nothing written) when the template does not
    exist, the organisation already has a definition with that id, or the copy would not
    load (e.g. an alias naming another of its playbooks).
    """
    folder, templates = org_folder(settings), templates_folder(settings)
    introduced = as_date(introduced_on, "introduced_on")
    aliases = tuple(a.strip() for a in aliases if a and a.strip())
    template = next((p for p in load_playbooks(templates) if p.id == template_id), None)
    if template is None:
        known = ", ".join(p.id for p in load_playbooks(templates)) or "none"
        raise ValueError(f"there is no template {template_id!r} in {templates} (templates: "
                         f"{known})")
    if any(p.id == template_id for p in load_playbooks(folder)):
        raise ValueError(f"the organisation already has a playbook {template_id!r} in {folder}; "
                         "edit that file instead")
    text = _INTRODUCED.sub(f"introduced_on: {introduced.isoformat()}",
                           Path(template.source).read_text(encoding="utf-8-sig"), count=1)
    text = _ALIASES.sub("", text).rstrip("\n") + "\n"
    if aliases:
        text += "aliases:\n" + "".join(f"  - {_yaml_text(a)}\n" for a in aliases)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{template_id}.yaml"
    _write_checked(target, text, folder, templates)
    if store is not None:
        attribute_runs(store, folder)
    return target


def _write_checked(target: Path, text: str, folder: Path, templates: Path) -> None:
    """Write `text` to `target` only when it loads and the folder stays valid."""
    partial = target.with_name(target.name + ".part")
    partial.write_text(text, encoding="utf-8")
    try:
        load_playbook(partial)
        partial.replace(target)
    except PlaybookError as exc:
        partial.unlink(missing_ok=True)
        raise ValueError(f"adopting would write an invalid {target.name}: {exc}") from exc
    from analysis.playbooks.library import check_folder
    errors, _ = check_folder(folder, templates)
    mine = [e for e in errors if e.startswith(target.name + ":")]
    if mine:
        target.unlink()
        raise ValueError("; ".join(mine))


def attribute_runs(store: Store, folder: str | Path) -> int | None:
    """Give runs stored under a definition's name or alias that definition's id.

    Runs imported before a definition was adopted carry the id their export's name gave
    them ("Save Play - At Risk" -> save_play_at_risk). This rewrites them to the definition's
    id in one transaction recorded as an import of playbook_runs (file name "adopted
    playbooks"), so it is listed with the imports and can be undone like one.

    Returns
    -------
    The import id recorded, or None when no run needed a new id.
    """
    from analysis.ingest.undo import record_history
    ids = playbook_ids_by_name(folder)
    stored = store.query("SELECT DISTINCT playbook_id FROM playbook_runs "
                         "WHERE playbook_id IS NOT NULL")["playbook_id"]
    renamed = {p: ids[slugify(p)] for p in stored
               if slugify(p) in ids and ids[slugify(p)] != p}
    if not renamed:
        return None
    pairs = pd.DataFrame({"old_id": list(renamed), "playbook_id": list(renamed.values())})
    view = "_attributed_playbooks"
    with store.transaction():
        store.register(view, pairs)
        try:
            import_id = store.next_import_id()
            changes = f"{view}_runs"
            store.execute(f"CREATE TEMP TABLE {changes} AS SELECT r.run_id, p.playbook_id "
                          f"FROM playbook_runs r JOIN {view} p ON r.playbook_id = p.old_id")
            record_history(store, "playbook_runs", import_id, changes, ["run_id", "playbook_id"])
            n = int(store.scalar(f"SELECT count(*) FROM {changes}"))
            store.execute(f"UPDATE playbook_runs AS r SET playbook_id = c.playbook_id "
                          f"FROM {changes} c WHERE r.run_id = c.run_id")
            store.execute(f"DROP TABLE {changes}")
            note = "; ".join(f"{old!r} -> {new}" for old, new in renamed.items())
            store.execute(
                "INSERT INTO imports (import_id, kind, file_name, sha256, imported_at, "
                "rows_read, rows_loaded, rows_rejected, mapping, rows_updated, warnings) "
                "VALUES (?, 'playbook_runs', 'adopted playbooks', NULL, ?, ?, ?, 0, NULL, ?, ?)",
                [import_id, datetime.now(timezone.utc).replace(tzinfo=None), n, n, n,
                 "runs attributed to adopted definitions: " + note])
        finally:
            store.unregister(view)
    return import_id


def adoptable_templates(settings: Settings) -> tuple[Playbook, ...]:
    """The templates whose id the organisation has no definition for yet."""
    own = {p.id for p in load_playbooks(org_folder(settings))}
    return tuple(p for p in load_playbooks(templates_folder(settings)) if p.id not in own)
