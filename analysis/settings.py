"""Every setting of the product, declared once with its default and a help line, and the
frozen `Settings` a request runs with.

`SETTINGS` is the one declaration: the `Settings` dataclass gets one typed field per entry, and
the README's table and the pages' help text come from the same entries. A request (a CLI
command, a page run, `metrics_json`, a benchmark or calibration replicate) resolves its
settings once with `Settings.resolve()`, which reads the environment variables
PLAYBOOK_IMPACT_<NAME> at that moment, and passes the frozen result on (in an
`analysis.context.Context`, or as explicit arguments such as `alpha`): nothing below a request
reads the environment again, so a request's numbers cannot change half-way through it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass, replace
from datetime import date
from pathlib import Path
import os

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One setting: its name, declared default and help line; `words` are the text values it
    accepts besides a value of its default's type (propensity_trim's "crump")."""
    name: str
    default: object
    help: str
    words: tuple[str, ...] = ()


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
                "Crump et al. (2009).", words=("crump",)),
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
                "Decided outcomes each side of a comparison (or of an introduction) needs before "
                "a change or effect is claimed (fewer: not enough data, whatever the interval "
                "says)."),
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


def env_name(name: str) -> str:
    """The environment variable that overrides a setting: PLAYBOOK_IMPACT_<NAME>."""
    return "PLAYBOOK_IMPACT_" + name.upper()


def _parse(name: str, text: str):
    """An environment override read as the type of the setting's default (or one of its words)."""
    declared = SETTINGS[name].default
    if text.strip().lower() in SETTINGS[name].words:
        return text.strip().lower()
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


def _type(setting: Setting):
    """The field type of a setting: its default's (text when it defaults to None), or text
    too when it accepts words."""
    if setting.default is None:
        return str | None
    return type(setting.default) | str if setting.words else type(setting.default)


# Values a setting must hold beyond its type: (test, what the message says it must be).
_FRACTION = (lambda v: 0 <= v <= 1, "a fraction between 0 and 1")
_CHECKS = {
    "alpha": (lambda v: 0 < v < 1, "strictly between 0 and 1"),
    "follower_threshold": _FRACTION, "consistent_share": _FRACTION, "rare_share": _FRACTION,
    "min_detectable_lift": (lambda v: 0 < v < 1, "strictly between 0 and 1"),
    "window_months": (lambda v: v >= 1, "at least 1"),
    "bootstrap_samples": (lambda v: v >= 1, "at least 1"),
    "import_chunk_rows": (lambda v: v >= 1, "at least 1"),
    "launch_date": (lambda v: v is None or _is_iso_date(v), "an ISO date like 2024-07-01"),
    "as_of": (lambda v: v in (None, "") or _is_iso_date(v), "an ISO date like 2024-07-01"),
}


def _is_iso_date(text) -> bool:
    try:
        date.fromisoformat(str(text).strip())
    except ValueError:
        return False
    return True


class _Resolved:
    """The behaviour of `Settings` (its fields come from SETTINGS)."""

    def __post_init__(self):
        for f in fields(self):
            value = _coerced(SETTINGS[f.name].default, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            _check(f.name, value)

    @classmethod
    def resolve(cls, environ=None, **overrides) -> "Settings":
        """The settings in effect now: `overrides`, else the environment variable
        PLAYBOOK_IMPACT_<NAME> (e.g. PLAYBOOK_IMPACT_FOLLOWER_THRESHOLD=0.75), else the declared
        default. The environment (`environ`, default os.environ) is read here, once; the
        result never changes. Raises KeyError for an unknown setting, ValueError for a value
        that is not of the setting's type or range (naming the variable or the setting)."""
        _known(overrides)
        environ = os.environ if environ is None else environ
        found = {name: _parse(name, text) for name in SETTINGS
                 if (text := environ.get(env_name(name))) not in (None, "")}
        return cls(**{**found, **overrides})

    def replace(self, **changes) -> "Settings":
        """A copy with `changes` (validated as `resolve` validates them)."""
        _known(changes)
        return replace(self, **changes)

    def reported(self) -> dict:
        """Every setting but paths and folders, as `metrics --json` reports them."""
        return {name: getattr(self, name) for name in SETTINGS
                if not name.endswith(("_path", "_dir"))}


def _coerced(default, value):
    """1 for a float setting as 1.0, a Path for a path setting as text: equal settings hash
    alike."""
    if isinstance(default, float) and type(value) is int:
        return float(value)
    if isinstance(default, str) and isinstance(value, os.PathLike):
        return str(value)
    return value


def _known(values: dict) -> None:
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise KeyError(f"no setting named {unknown[0]!r}")


def _check(name: str, value) -> None:
    """Raise ValueError, naming the setting, when `value` is not of its type or range."""
    setting = SETTINGS[name]
    if isinstance(value, str) and value.strip().lower() in setting.words:
        return
    if not _typed(setting.default, value):
        kind = "text" if setting.default is None else type(setting.default).__name__
        words = "".join(f" or {w!r}" for w in setting.words)
        raise ValueError(f"the setting {name!r} must be of type {kind}{words}, got {value!r}")
    test, wanted = _CHECKS.get(name, (None, ""))
    if test is not None and not test(value):
        raise ValueError(f"the setting {name!r} must be {wanted}, got {value!r}")


def _typed(default, value) -> bool:
    if default is None:
        return value is None or isinstance(value, str)
    if isinstance(value, bool) != isinstance(default, bool):
        return False
    return isinstance(value, type(default))


Settings = make_dataclass(
    "Settings", [(s.name, _type(s), field(default=s.default)) for s in SETTINGS.values()],
    bases=(_Resolved,), frozen=True,
    namespace={"__module__": __name__, "__doc__": (
        "Every setting's value for one request: frozen and hashable (a cache can key on it), "
        "one field per entry of SETTINGS. `Settings()` holds the declared defaults; "
        "`Settings.resolve()` the values in effect (overrides, environment, defaults).")})


# The declared defaults, for low-level callers (the readers) whose caller may pass a request's.
DEFAULTS = Settings()


def given_or_resolved(settings: "Settings | None") -> "Settings":
    """`settings` when a caller passed them, else those in effect now (`Settings.resolve()`):
    for the entry points a request starts at (Context.build, import_file, the calibration
    replicate), so the environment is read there and nowhere below."""
    return Settings.resolve() if settings is None else settings


def pinned_db() -> str | None:
    """PLAYBOOK_IMPACT_DB: a database file the CLI and the app are pinned to, else None. Read
    at the store boundary only (the CLI's default --db, the file the app opens)."""
    return os.environ.get("PLAYBOOK_IMPACT_DB") or None


def db_path(resolved: "Settings") -> str:
    """The database file: PLAYBOOK_IMPACT_DB when set, else the db_path setting."""
    return pinned_db() or str(resolved.db_path)
