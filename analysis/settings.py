"""Every setting of the product, declared once with its default and a help line.

Analysis functions take their thresholds from here unless a caller passes another value;
the pages show `help` next to the widget that changes a setting.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
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
        Setting("landmark_days", 30,
                "Followers' landmark day L: runs still open L days after opening are compared "
                "on the steps due by then that were done by then, and their outcome after L "
                "(when steps carry due and completion dates)."),
        Setting("consistent_share", 0.8,
                "Playbook share and mean adherence at or above which a CSM is a consistent user."),
        Setting("rare_share", 0.3, "Playbook share below which a CSM is a rare user."),
        Setting("launch_date", None,
                "Program launch date (ISO, e.g. 2024-07-01) that consistency and proficiency "
                "compare around; None = the earliest introduced_on in the playbook catalogue."),
        Setting("min_renewals_per_csm", 10,
                "Decided renewals a CSM needs in a window to count in the consistency spread."),
        Setting("ramp_last_renewals", 10,
                "Derived ramp (no ramped_on): a CSM has ramped once the rate over their last "
                "this many decided renewals reaches the target, every CSM's renewals thinned "
                "to a common volume first so a bigger book cannot ramp anyone sooner."),
        Setting("veteran_tenure_days", 365,
                "Tenure above which a CSM's renewal rate sets the ramp target (their median)."),
        Setting("missed_play_days", 14, "Days after a trigger fires within which a run must open."),
        Setting("snapshot_max_age_days", 45,
                "A health snapshot older than this is too stale to fire a trigger (treated as missing)."),
        Setting("outcome_horizon_days", 180,
                "Days after a run opens (or a renewal falls due) within which its outcome "
                "counts: a success recorded later counts as not a success, and an outcome whose "
                "horizon has not passed by the as-of date is pending (reported, not counted)."),
        Setting("as_of", None,
                "The date the data runs to (ISO); None = the last opened_on, closed_on or "
                "renewal_date in the data. Outcome horizons and 'too early' are judged against it."),
        Setting("its_min_months", 6,
                "Months with outcomes each side of an introduction needs before the interrupted "
                "time series can tell a trend from a step (fewer: not enough data)."),
        Setting("its_pre_months", 24,
                "Months before an introduction the time series reads its pre-trend from (as far "
                "as the data goes; at least window_months)."),
        Setting("its_exclude_months", 2,
                "Months just before an introduction left out of the time-series fit: a playbook "
                "introduced after a bad quarter would otherwise read its recovery as an effect."),
        Setting("min_outcomes_per_side", 30,
                "Decided outcomes each side of an introduction needs before an effect is claimed."),
        Setting("min_detectable_lift", 0.10, "Lift the 'not enough data' verdict sizes samples for."),
        Setting("min_outcomes_per_side", 30,
                "Decided outcomes each side of a comparison needs before a change is claimed "
                "(fewer: not enough data, whatever the interval says)."),
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


# Values set by `override()` for the current context (thread, task, calibration replicate).
_OVERRIDES: ContextVar[dict] = ContextVar("settings_overrides", default={})


@contextmanager
def override(**values):
    """Use these setting values inside the block (this context only; nested blocks stack).

    For callers that analyse one data set under other settings without touching the process
    environment, e.g. the calibration benchmark's replicates: `with override(as_of="2025-03-31"):`.
    """
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise KeyError(f"no setting named {sorted(unknown)[0]!r}")
    token = _OVERRIDES.set({**_OVERRIDES.get(), **values})
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


def default(name: str):
    """The value in effect for a setting: an `override()` around the call, else the environment
    variable PLAYBOOK_IMPACT_<NAME> (e.g. PLAYBOOK_IMPACT_FOLLOWER_THRESHOLD=0.75), else its
    declared default."""
    if name not in SETTINGS:
        raise KeyError(f"no setting named {name!r}")
    overrides = _OVERRIDES.get()
    if name in overrides:
        return overrides[name]
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
