"""Every setting of the product, declared once with its default and a help line.

Analysis functions take their thresholds from here unless a caller passes another value;
the pages show `help` next to the widget that changes a setting.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import os

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("db_path", str(ROOT / "data" / "playbook_impact.duckdb"),
                "DuckDB file; the PLAYBOOK_IMPACT_DB environment variable overrides it."),
        Setting("demo_db_path", str(ROOT / "data" / "demo.duckdb"),
                "DuckDB file of the demo organisation (`init --demo` writes it; the app opens "
                "it while the organisation's database holds no data)."),
        Setting("playbooks_dir", str(ROOT / "playbooks" / "templates"),
                "Template library: the shipped playbook definitions, browsable and adoptable; "
                "analysed only for a database that uses them (the demo organisation)."),
        Setting("org_playbooks_dir", str(ROOT / "data" / "playbooks"),
                "The organisation's own playbook definitions (adopted templates and its own "
                "files); never the template folder."),
        Setting("mappings_dir", str(ROOT / "data" / "mappings"), "Folder of saved column mappings."),
        Setting("window_months", 12, "Months on each side of a playbook's introduction."),
        Setting("follower_threshold", 0.8, "Adherence at or above which a run counts as followed."),
        Setting("propensity_trim", 0.05,
                "Followers-vs-non-followers overlap trimming: runs whose propensity of being "
                "followed lies outside [trim, 1 − trim] are dropped; 'crump' picks the bound by "
                "Crump et al. (2009)."),
        Setting("min_runs_adjusted", 30,
                "Runs with covariates a playbook needs before its follower effect is adjusted "
                "by propensity weighting (fewer: stratification)."),
        Setting("min_group_adjusted", 10,
                "Followers and non-followers each needed before propensity weighting is used."),
        Setting("consistent_share", 0.8,
                "Playbook share and mean adherence at or above which a CSM is a consistent user."),
        Setting("rare_share", 0.3, "Playbook share below which a CSM is a rare user."),
        Setting("launch_date", None,
                "Program launch date (ISO, e.g. 2024-07-01) that consistency and proficiency "
                "compare around; None = the earliest introduced_on in the playbook catalogue."),
        Setting("min_renewals_per_csm", 10,
                "Decided renewals a CSM needs in a window to count in the consistency spread."),
        Setting("ramp_window_days", 90, "Trailing window of the renewal rate used to detect ramp."),
        Setting("ramp_min_renewals", 5, "Decided renewals in the trailing window before ramp counts."),
        Setting("veteran_tenure_days", 365,
                "Tenure above which a CSM's renewal rate sets the ramp target (their median)."),
        Setting("missed_play_days", 14, "Days after a trigger fires within which a run must open."),
        Setting("snapshot_max_age_days", 45,
                "A health snapshot older than this is too stale to fire a trigger (treated as missing)."),
        Setting("min_detectable_lift", 0.10, "Lift the 'not enough data' verdict sizes samples for."),
        Setting("alpha", 0.05, "Significance level of every interval and test."),
        Setting("bootstrap_samples", 2000, "Resamples for bootstrap intervals."),
        Setting("random_seed", 20261122, "Seed for bootstrap and demo data, so results repeat."),
        Setting("small_cell", 5, "Expected count below which Fisher's exact test replaces the z-test."),
        Setting("upload_limit_mb", 1024, "Largest file the import page accepts."),
        Setting("import_max_columns", 2000,
                "Columns above which a file is refused as not being an export."),
        Setting("import_max_field_bytes", 1_000_000,
                "Longest single value an import accepts; a longer one refuses the file."),
        Setting("import_chunk_rows", 200_000,
                "Rows an import checks and stages at a time: memory grows with this, not with "
                "the file."),
        Setting("import_stage_memory_rows", 2_000_000,
                "Files up to about this many rows are staged in memory while imported (fastest); "
                "longer ones in the database file, so memory does not grow with the file."),
        Setting("import_sample_rows", 100_000,
                "First rows of a file that settle what is decided once per file: the header "
                "row, unnamed empty columns, and whether dates are day-first."),
        Setting("import_preview_rows", 200_000,
                "Rows the upload page's preview checks; a longer file is checked in full only "
                "when imported."),
        Setting("zip_max_ratio", 200,
                "Inflation (uncompressed / compressed) above which a ZIP member over 1 MB is "
                "refused as a zip bomb; real CSV exports compress 5-30x."),
        Setting("chromium_path", "/usr/bin/chromium",
                "Headless Chromium that prints the quarterly review to PDF."),
    )
}


def _parse(name: str, text: str):
    """An environment override read as the type of the setting's default."""
    declared = SETTINGS[name].default
    try:
        if isinstance(declared, bool):
            return text.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(declared, int):
            return int(text)
        if isinstance(declared, float):
            return float(text)
    except ValueError:
        raise ValueError(f"{env_name(name)}={text!r} is not a valid {type(declared).__name__} "
                         f"for the setting {name!r}") from None
    return text


def env_name(name: str) -> str:
    """The environment variable that overrides a setting: PLAYBOOK_IMPACT_<NAME>."""
    return "PLAYBOOK_IMPACT_" + name.upper()


def default(name: str):
    """The value in effect for a setting: its declared default, unless the environment variable
    PLAYBOOK_IMPACT_<NAME> (e.g. PLAYBOOK_IMPACT_FOLLOWER_THRESHOLD=0.75) overrides it."""
    if name not in SETTINGS:
        raise KeyError(f"no setting named {name!r}")
    text = os.environ.get(env_name(name))
    if text is None or text == "":
        return SETTINGS[name].default
    return _parse(name, text)


def db_path() -> str:
    """The database file: PLAYBOOK_IMPACT_DB when set, else data/playbook_impact.duckdb."""
    return os.environ.get("PLAYBOOK_IMPACT_DB") or str(default("db_path"))


def demo_db_path() -> str:
    """The demo organisation's database file (the demo_db_path setting)."""
    return str(default("demo_db_path"))
