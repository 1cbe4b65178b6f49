"""`python -m analysis ...`: the automation interface (DESIGN.md, "Command line").

Each subcommand is a thin shell over a function the pages call too, so the JSON and the
dashboards never disagree. A command is one request: its settings are resolved once
(`Settings.resolve()`, from the environment) and handed to what it calls.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from analysis import schema
from analysis.filters import Filters
from analysis.settings import Settings, db_path


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH",
                   help="DuckDB file (default: $PLAYBOOK_IMPACT_DB or data/playbook_impact.duckdb)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis",
                                     description="Playbook Impact: do our playbooks work?")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="start the organisation's database; --demo writes the demo "
                                    "organisation's own database instead")
    _add_db(p)
    p.add_argument("--demo", action="store_true",
                   help="load the demo organisation into its own database (demo_db_path, or "
                        "--db) when that holds no data")

    p = sub.add_parser("import", help="import one export file into a table")
    p.add_argument("kind", choices=schema.IMPORTABLE_KINDS, metavar="KIND",
                   help="table: " + ", ".join(schema.IMPORTABLE_KINDS))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--mapping", metavar="M.yaml", help="mapping file (DESIGN.md format)")
    p.add_argument("--day-first", action="store_true", help="read 03/04/2024 as 3 April")
    p.add_argument("--kind-ok", action="store_true",
                   help="import even when the file looks like another kind of export "
                        "(without it such a file is refused, naming the kind it looks like)")
    p.add_argument("--member", metavar="NAME",
                   help="the file to import from a ZIP archive that holds several")
    _add_db(p)

    p = sub.add_parser("metrics", help="compute every metric")
    p.add_argument("--json", action="store_true", help="print one JSON object (the default)")
    p.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="DATE")
    p.add_argument("--to", dest="date_to", type=date.fromisoformat, metavar="DATE")
    p.add_argument("--playbook", metavar="ID")
    _add_db(p)

    p = sub.add_parser("report", help="write the quarterly review pack")
    p.add_argument("--quarter", required=True, metavar="2026Q3")
    p.add_argument("--out", required=True, metavar="review.html")
    p.add_argument("--pdf", action="store_true", help="also write a PDF beside the HTML")
    _add_db(p)

    p = sub.add_parser("playbooks", help="playbook definitions")
    psub = p.add_subparsers(dest="playbooks_command", required=True)
    c = psub.add_parser("check", help="validate every YAML file of a folder")
    c.add_argument("dir", nargs="?", help="default: the template library (playbooks_dir)")
    a = psub.add_parser("adopt", help="copy a template into the organisation's folder "
                                      "(org_playbooks_dir) as its own playbook")
    a.add_argument("template_id", metavar="ID")
    a.add_argument("--introduced-on", required=True, type=date.fromisoformat, metavar="DATE",
                   help="when the organisation introduced it (ISO date)")
    a.add_argument("--alias", action="append", default=[], metavar="NAME",
                   help="a name its runs carry in exports (repeatable), e.g. "
                        "'Save Play - At Risk'")
    _add_db(a)

    p = sub.add_parser("imports", help="list imports: id, kind, file, when, rows loaded / "
                                       "updated / rejected")
    _add_db(p)

    p = sub.add_parser("undo", help="reverse one import (rows it inserted removed, rows it "
                                    "updated restored)")
    p.add_argument("import_id", type=int, metavar="IMPORT_ID")
    _add_db(p)

    sub.add_parser("hash-password",
                   help="read a password (twice) and print its salted hash for secrets.toml")
    return parser


def _open(args, settings: Settings):
    """The command's database: --db, else PLAYBOOK_IMPACT_DB, else the db_path setting."""
    from analysis.store import open_store
    return open_store(args.db or db_path(settings))


def cmd_init(args, settings: Settings) -> int:
    from analysis.store import open_store, start_organisation
    if not args.demo:
        with start_organisation(args.db or db_path(settings), settings.demo_db_path) as store:
            print(f"Schema version {store.schema_version()} ready in {store.path}")
            print("This is your organisation's database: the app opens it from now on. Import "
                  "exports on the Import page or with `python -m analysis import KIND FILE`.")
        return 0
    with open_store(args.db or settings.demo_db_path) as store:
        print(f"Schema version {store.schema_version()} ready in {store.path}")
        if store.is_empty():
            from analysis.demo import load_demo
            print("Loading the demo organisation (first start)...", flush=True)
            counts = load_demo(store, settings.random_seed)
            print("Loaded demo data: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        elif store.is_demo():
            print("The demo organisation is already loaded.")
        else:
            print("The database already holds data; demo data not loaded.")
    return 0


def cmd_import(args, settings: Settings) -> int:
    from analysis.ingest.importer import ImportRefused, import_file
    with _open(args, settings) as store:
        try:
            result = import_file(store, args.kind, args.file, mapping=args.mapping,
                                 day_first=True if args.day_first else None,
                                 kind_ok=args.kind_ok, member=args.member, settings=settings)
        except ImportRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(result.summary())
    return 0


def cmd_metrics(args, settings: Settings) -> int:
    from analysis.metrics.registry import metrics_json
    filters = Filters(date_from=args.date_from, date_to=args.date_to, playbook_id=args.playbook)
    with _open(args, settings) as store:
        result = metrics_json(store, filters, settings)
    print(json.dumps(result, indent=2, default=str, allow_nan=False))
    return 0


def cmd_report(args, settings: Settings) -> int:
    from analysis.context import Context
    from analysis.present.report import write_report
    with _open(args, settings) as store:
        written = write_report(Context.build(store, settings=settings), args.quarter,
                               Path(args.out), pdf=args.pdf)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_playbooks(args, settings: Settings) -> int:
    if args.playbooks_command == "adopt":
        return _adopt(args, settings)
    from analysis.playbooks.catalog import templates_folder
    from analysis.playbooks.library import check_folder
    folder = Path(args.dir) if args.dir else templates_folder(settings)
    errors, count = check_folder(folder, templates_folder(settings))
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{count} playbook file(s) checked in {folder}: "
          + ("all valid" if not errors else f"{len(errors)} error(s)"))
    return 1 if errors else 0


def cmd_imports(args, settings: Settings) -> int:
    from analysis.ingest.undo import list_imports
    with _open(args, settings) as store:
        imports = list_imports(store)
    if imports.empty:
        print("No imports yet.")
        return 0
    print(f"{'id':>5}  {'kind':<16} {'when (UTC)':<16}  {'loaded':>9} {'updated':>9} "
          f"{'rejected':>9}  file")
    for r in imports.itertuples():
        when = "" if _missing(r.imported_at) else f"{r.imported_at:%Y-%m-%d %H:%M}"
        print(f"{r.import_id:>5}  {r.kind:<16} {when:<16}  {_n(r.rows_loaded):>9} "
              f"{_n(r.rows_updated):>9} {_n(r.rows_rejected):>9}  {r.file_name}"
              + ("" if r.undoable else "  (cannot be undone)"))
    return 0


def _missing(value) -> bool:
    import pandas as pd
    return value is None or bool(pd.isna(value))


def _n(value) -> str:
    return "" if _missing(value) else f"{int(value):,}"


def cmd_undo(args, settings: Settings) -> int:
    from analysis.ingest.undo import UndoRefused, undo_import
    with _open(args, settings) as store:
        try:
            result = undo_import(store, args.import_id)
        except UndoRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(result.summary())
    return 0


def _adopt(args, settings: Settings) -> int:
    from analysis.playbooks.adopt import adopt_template
    with _open(args, settings) as store:
        if store.is_demo():
            print("error: the demo organisation already uses every template; adopt into your "
                  "organisation's database (start it with `python -m analysis init`)",
                  file=sys.stderr)
            return 1
        before = int(store.scalar("SELECT count(*) FROM imports"))
        path = adopt_template(args.template_id, args.introduced_on, args.alias,
                              settings=settings, store=store)
        attributed = int(store.scalar("SELECT count(*) FROM imports")) > before
    print(f"Adopted {args.template_id} (introduced {args.introduced_on}) as {path}")
    if attributed:
        print("Runs stored under its name or aliases now carry its id (listed by "
              "`python -m analysis imports`; undo reverses it).")
    return 0


def cmd_hash_password(args, settings: Settings) -> int:
    import getpass
    from analysis.auth import hash_password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        print("error: the passwords differ", file=sys.stderr)
        return 1
    print(hash_password(first))
    return 0


COMMANDS = {"init": cmd_init, "import": cmd_import, "metrics": cmd_metrics,
            "report": cmd_report, "playbooks": cmd_playbooks,
            "imports": cmd_imports, "undo": cmd_undo,
            "hash-password": cmd_hash_password}


def main(argv: list[str] | None = None) -> int:
    from analysis.store import StoreError
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, Settings.resolve())
    except StoreError as exc:  # the app or another command holds the database
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
