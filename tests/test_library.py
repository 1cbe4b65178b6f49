"""The playbook library: the shipped definitions, validation errors, search and lookups."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from analysis.playbooks.library import (PlaybookError, check_folder, load_playbook, load_playbooks,
                              playbook_ids_by_name, quick_reference, search_playbooks,
                              undefined_playbooks)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "playbooks" / "templates"
BAD = Path(__file__).resolve().parent / "playbooks_bad"

# The catalogue every helper codes against (common contract): id -> (name, category,
# introduced_on, current version, earlier versions with their dates).
CATALOGUE = {
    "onboarding": ("Onboarding: First 90 Days", "lifecycle", date(2024, 7, 1), "2.0",
                   {"1.0": date(2024, 7, 1), "2.0": date(2025, 4, 1)}),
    "adoption": ("Adoption Acceleration", "lifecycle", date(2024, 7, 1), "1.0", {}),
    "retention": ("Retention Health Check", "lifecycle", date(2024, 7, 1), "1.0", {}),
    "renewal": ("Renewal Runway", "lifecycle", date(2024, 7, 1), "2.0",
                {"1.0": date(2024, 7, 1), "2.0": date(2025, 7, 1)}),
    "expansion": ("Expansion Opportunity", "lifecycle", date(2025, 1, 6), "1.0", {}),
    "churn_recovery": ("Churn Recovery", "situational", date(2024, 10, 1), "1.0", {}),
    "at_risk": ("At-Risk Customer Save", "situational", date(2024, 7, 1), "1.1",
                {"1.0": date(2024, 7, 1), "1.1": date(2025, 3, 3)}),
    "executive_escalation": ("Executive Escalation", "situational", date(2024, 7, 1), "1.0", {}),
    "champion_change": ("Champion Change", "situational", date(2025, 1, 6), "1.0", {}),
    "competitive_threat": ("Competitive Threat Response", "situational", date(2025, 4, 7), "1.0",
                           {}),
    "usage_drop": ("Usage Drop Response", "situational", date(2024, 10, 1), "1.1",
                   {"1.0": date(2024, 10, 1), "1.1": date(2025, 6, 2)}),
    "feature_adoption": ("Feature Adoption Campaign", "lifecycle", date(2025, 1, 6), "1.0", {}),
}


# -- the shipped library --------------------------------------------------------------------
def test_every_shipped_file_is_valid():
    errors, count = check_folder(SHIPPED)
    assert errors == []
    assert count == 12


def test_cli_check_passes_on_shipped_folder():
    done = subprocess.run([sys.executable, "-m", "analysis", "playbooks", "check", str(SHIPPED)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "12 playbook file(s) checked" in done.stdout and "all valid" in done.stdout


def test_cli_check_fails_on_bad_folder():
    done = subprocess.run([sys.executable, "-m", "analysis", "playbooks", "check", str(BAD)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "wrong_type.yaml:23: steps[1].due_day" in done.stderr


def test_shipped_catalogue_matches_the_contract():
    playbooks = {pb.id: pb for pb in load_playbooks(SHIPPED)}
    assert list(playbooks) == sorted(CATALOGUE)
    for pid, (name, category, introduced, version, history) in CATALOGUE.items():
        pb = playbooks[pid]
        assert (pb.name, pb.category, pb.scenario, pb.introduced_on, pb.version) == (
            name, category, pid, introduced, version)
        assert pb.outcome_metric == ("renewal_rate" if pid == "renewal" else "success_rate")
        for v, when in history.items():
            assert any(c.version == v and c.date == when for c in pb.changelog), (pid, v)


def test_shipped_definitions_have_real_content():
    for pb in load_playbooks(SHIPPED):
        assert pb.when_to_use and pb.triggers and len(pb.steps) >= 4, pb.id
        assert all(s.owner_role and s.call_to_action for s in pb.steps), pb.id
        assert pb.success_criteria and pb.pitfalls and pb.templates and pb.timeline, pb.id
    # Campaign playbooks are started by people; every other one can be checked in the data.
    manual = [pb.id for pb in load_playbooks(SHIPPED) if not pb.checkable_triggers]
    assert manual == ["feature_adoption"]


def test_five_trigger_kinds_are_all_used():
    kinds = {t.kind for pb in load_playbooks(SHIPPED) for t in pb.triggers}
    assert kinds == {"lifecycle_stage", "customer_event", "scheduled", "csm_defined",
                     "vendor_driven"}


def test_renewal_timeline_and_at_risk_tiers_and_usage_drop_cadence():
    pbs = {pb.id: pb for pb in load_playbooks(SHIPPED)}
    assert [m.day for m in pbs["renewal"].timeline] == [-120, -90, -60, -45, -30, -14]
    tiers = [b.condition for b in pbs["at_risk"].steps[0].branches]
    assert any("below 40" in c for c in tiers) and any("40 to 60" in c for c in tiers)
    assert any("60 to 80" in c for c in tiers)
    assert [m.day for m in pbs["usage_drop"].timeline][:3] == [1, 4, 9]
    assert pbs["onboarding"].steps[-1].due_day == 90


def test_ids_by_name_resolve_names_and_ids():
    ids = playbook_ids_by_name(SHIPPED)
    assert ids["at_risk"] == "at_risk"
    assert ids["at_risk_customer_save"] == "at_risk"
    assert ids["onboarding: first 90 days"] == "onboarding"
    assert ids["onboarding_first_90_days"] == "onboarding"
    assert "qbr_prep" not in ids


def test_missing_folder_gives_empty_library_and_a_check_error(tmp_path):
    assert load_playbooks(tmp_path / "nope") == ()
    errors, count = check_folder(tmp_path / "nope")
    assert count == 0 and "no such folder" in errors[0]


# -- validation errors: file, field and line ------------------------------------------------
@pytest.mark.parametrize("file, expected", [
    ("wrong_type.yaml", "wrong_type.yaml:23: steps[1].due_day: must be a whole number of days, got 'soon'"),
    ("unknown_key.yaml", "unknown_key.yaml:20: steps[0].call_to_actoin: unknown key 'call_to_actoin'"),
    ("missing_steps.yaml", "missing_steps.yaml:1: (top level): missing required field 'steps'"),
    ("bad_trigger.yaml", "bad_trigger.yaml:16: when_to_use.triggers[1].expression: bad trigger"),
    ("python_tag.yaml", "python_tag.yaml:7: (file): refused: could not determine a constructor "
                        "for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("bad_enum.yaml", "bad_enum.yaml:3: category: must be one of lifecycle, situational, got 'seasonal'"),
])
def test_bad_file_reports_file_field_and_line(file, expected):
    with pytest.raises(PlaybookError) as info:
        load_playbook(BAD / file)
    assert info.value.errors[0].startswith(expected), info.value.errors


def test_every_problem_of_a_file_is_listed_in_line_order():
    with pytest.raises(PlaybookError) as info:
        load_playbook(BAD / "bad_enum.yaml")
    assert info.value.errors == [
        "bad_enum.yaml:3: category: must be one of lifecycle, situational, got 'seasonal'",
        "bad_enum.yaml:8: outcome_metric: must be one of renewal_rate, success_rate, got 'nps'",
        "bad_enum.yaml:12: when_to_use.triggers[0].kind: must be one of lifecycle_stage, "
        "customer_event, scheduled, csm_defined, vendor_driven, got 'gut_feeling'",
        "bad_enum.yaml:22: steps[0].branches[0].goto_step: step 7 does not exist",
    ]


def test_missing_steps_is_reported_once():
    with pytest.raises(PlaybookError) as info:
        load_playbook(BAD / "missing_steps.yaml")
    assert len(info.value.errors) == 1


def test_python_tag_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    file = tmp_path / "evil.yaml"
    file.write_text(f'id: evil\nowner: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(PlaybookError):
        load_playbook(file)
    assert not marker.exists()


def test_bad_trigger_names_the_reason():
    with pytest.raises(PlaybookError) as info:
        load_playbook(BAD / "bad_trigger.yaml")
    assert "unexpected character '.'" in info.value.errors[0]


def test_check_folder_lists_every_bad_file_and_skips_them_when_loading():
    errors, count = check_folder(BAD)
    assert count == 6
    assert {e.split(":")[0] for e in errors} == {p.name for p in BAD.glob("*.yaml")}
    assert load_playbooks(BAD) == ()


def _shipped_text(pid: str) -> str:
    return (SHIPPED / f"{pid}.yaml").read_text()


def test_unknown_playbook_reference_and_duplicate_id_are_folder_errors(tmp_path):
    text = _shipped_text("at_risk")
    (tmp_path / "a.yaml").write_text(text.replace("goto_playbook: executive_escalation",
                                                  "goto_playbook: war_room", 1))
    (tmp_path / "b.yaml").write_text(text)
    errors, count = check_folder(tmp_path, SHIPPED)
    assert count == 2
    assert "b.yaml:1: id: 'at_risk' is already defined in a.yaml" in errors
    # a.yaml's step 2 sends the CSM to war_room: neither in the folder nor a template.
    assert ("a.yaml:69: steps[1].branches[0].goto_playbook: no playbook with id "
            "'war_room' in the folder") in errors
    # An organisation's adopted at_risk may still branch to the escalation template.
    assert not [e for e in errors if "executive_escalation" in e]


def test_aliases_load_and_resolve_run_names(tmp_path):
    text = _shipped_text("at_risk") + 'aliases:\n  - "Save Play - At Risk"\n  - Risk CTA\n'
    (tmp_path / "at_risk.yaml").write_text(text)
    assert load_playbook(tmp_path / "at_risk.yaml").aliases == ("Save Play - At Risk",
                                                                "Risk CTA")
    ids = playbook_ids_by_name(tmp_path)
    assert ids["save_play_at_risk"] == ids["save play - at risk"] == ids["risk_cta"] == "at_risk"


@pytest.mark.parametrize("aliases, message", [
    ('  - "Save Play"\n  - save-play\n', "aliases[1]: 'save-play' is the same name as 'Save Play'"),
    ("  - '--'\n", "aliases[0]: '--' has no letter or digit"),
    ("  - 3\n", "aliases[0]: must be a non-empty text, got 3"),
])
def test_bad_aliases_are_errors_naming_the_field(tmp_path, aliases, message):
    (tmp_path / "at_risk.yaml").write_text(_shipped_text("at_risk") + "aliases:\n" + aliases)
    with pytest.raises(PlaybookError, match=re.escape(message)):
        load_playbook(tmp_path / "at_risk.yaml")


def test_an_alias_naming_another_playbook_is_a_folder_error(tmp_path):
    (tmp_path / "renewal.yaml").write_text(_shipped_text("renewal"))
    (tmp_path / "at_risk.yaml").write_text(_shipped_text("at_risk")
                                           + "aliases:\n  - Renewal Runway\n")
    errors, _ = check_folder(tmp_path)
    assert ("at_risk.yaml:1: aliases: 'Renewal Runway' already names the playbook 'renewal' "
            "(renewal.yaml)") in errors


def test_version_written_as_a_number_keeps_its_text(tmp_path):
    text = _shipped_text("adoption").replace('version: "1.0"', "version: 1.10", 1)
    text = text.replace('  - version: "1.0"', "  - version: 1.10")
    (tmp_path / "adoption.yaml").write_text(text)
    assert load_playbook(tmp_path / "adoption.yaml").version == "1.10"


def test_duplicate_key_is_an_error(tmp_path):
    text = _shipped_text("adoption").replace("owner: Customer Education Lead",
                                             "owner: Customer Education Lead\nowner: Someone")
    (tmp_path / "adoption.yaml").write_text(text)
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path / "adoption.yaml")
    assert info.value.errors == ["adoption.yaml:9: owner: appears twice"]


def test_syntax_error_names_the_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("id: x\nname: [unclosed\nowner: y\n")
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path / "broken.yaml")
    assert info.value.errors[0].startswith("broken.yaml:3: (file): not valid YAML")


# -- search and the quick-reference card ----------------------------------------------------
def test_search_matches_names_triggers_steps_and_templates():
    pbs = load_playbooks(SHIPPED)
    ids = lambda found: [p.id for p in found]  # noqa: E731
    assert ids(search_playbooks(pbs, "renewal runway")) == ["renewal"]
    # A trigger expression: only the playbooks whose triggers read active_users_change_mom.
    assert ids(search_playbooks(pbs, "active_users_change_mom")) == [
        "adoption", "at_risk", "champion_change", "expansion", "usage_drop"]
    # A template body word.
    assert "usage_drop" in ids(search_playbooks(pbs, "we miss you"))
    assert ids(search_playbooks(pbs, "BATTLE card")) == ["competitive_threat"]
    assert search_playbooks(pbs, "zzz-not-there") == ()


def test_search_filters_by_category_scenario_and_trigger_kind():
    pbs = load_playbooks(SHIPPED)
    assert len(search_playbooks(pbs, category="situational")) == 6
    assert [p.id for p in search_playbooks(pbs, scenario="renewal")] == ["renewal"]
    vendor = [p.id for p in search_playbooks(pbs, trigger_kind="vendor_driven")]
    assert vendor == ["competitive_threat", "feature_adoption", "usage_drop"]
    assert [p.id for p in search_playbooks(pbs, "business review", category="lifecycle",
                                           trigger_kind="scheduled")] == ["renewal", "retention"]


def test_quick_reference_card_holds_triggers_steps_and_dates():
    pb = next(p for p in load_playbooks(SHIPPED) if p.id == "renewal")
    card = quick_reference(pb)
    assert card.startswith("# Renewal Runway (v2.0)\n")
    assert "`days_to_renewal <= 120 and days_to_renewal >= 0`" in card
    assert "6. **Contract signature** — Account Executive, day -14:" in card
    assert "- day -45: Objections handled" in card
    assert "- renewal_rate >= 0.9 within 365 days" in card


# -- playbooks in the data without a definition ---------------------------------------------
def test_undefined_playbooks_lists_ids_without_a_file(store):
    store.execute("""
        insert into playbook_runs (run_id, scenario, playbook_id, account_id, opened_on) values
        ('r1', 'qbr', 'qbr_prep', 'a1', DATE '2025-02-03'),
        ('r2', 'qbr', 'qbr_prep', 'a2', DATE '2024-11-04'),
        ('r3', 'at_risk', 'at_risk', 'a1', DATE '2025-01-01'),
        ('r4', 'renewal', NULL, 'a1', DATE '2025-01-01')
    """)
    frame = undefined_playbooks(store, load_playbooks(SHIPPED))
    assert frame["playbook_id"].tolist() == ["qbr_prep"]
    assert frame["runs"].tolist() == [2]
    assert frame["scenario"].tolist() == ["qbr"]
    assert str(frame["first_opened_on"].iloc[0])[:10] == "2024-11-04"


# -- the pictures ---------------------------------------------------------------------------
def test_flowchart_has_a_node_per_step_and_an_edge_per_branch():
    from analysis.present.charts.library import flowchart_dot
    pb = next(p for p in load_playbooks(SHIPPED) if p.id == "at_risk")
    dot = flowchart_dot(pb)
    assert dot.startswith("digraph playbook {") and dot.rstrip().endswith("}")
    assert sum(f"  step{n} [label=" in dot for n in range(1, 9)) == 8
    # 7 sequential arrows, 10 dashed branch arrows (steps 1, 2, 3, 6, 7, 8: 3 + 2 + 2 + 1 + 1 + 1).
    assert dot.count("style=dashed") == sum(len(s.branches) for s in pb.steps) == 10
    assert len([line for line in dot.splitlines() if "->" in line and "dashed" not in line]) == 7
    assert 'step1 -> step2 [label="health score below 40\\n(critical)"' in dot
    assert dot.count("\n  pb_executive_escalation [label=") == 1  # one node, however many arrows


def test_flowchart_escapes_quotes():
    from dataclasses import replace

    from analysis.present.charts.library import flowchart_dot
    pb = next(p for p in load_playbooks(SHIPPED) if p.id == "adoption")
    step = replace(pb.steps[0], title='Say "hello"')
    dot = flowchart_dot(replace(pb, steps=(step, *pb.steps[1:])))
    assert 'Say \\"hello\\"' in dot


def test_timeline_figure_places_milestones_and_steps():
    from analysis.present.charts.library import timeline_figure
    pb = next(p for p in load_playbooks(SHIPPED) if p.id == "renewal")
    fig = timeline_figure(pb)
    milestones, steps = fig.data
    assert list(milestones.x) == [-120, -90, -60, -45, -30, -14]
    assert list(steps.x) == [-120, -90, -60, -45, -30, -14]
    assert list(steps.text) == ["1", "2", "3", "4", "5", "6"]


# -- the YAML loader: libyaml when available, the pure-Python one otherwise -------------------
def test_libyaml_loader_is_used_when_pyyaml_has_it():
    import yaml

    from analysis.playbooks import library
    expected = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    assert library._SafeLoader is expected


@pytest.mark.parametrize("file", ["wrong_type.yaml", "unknown_key.yaml", "missing_steps.yaml",
                                  "bad_trigger.yaml", "python_tag.yaml", "bad_enum.yaml"])
def test_pure_python_fallback_reports_the_same_errors(file, monkeypatch):
    import yaml

    from analysis.playbooks import library
    with pytest.raises(PlaybookError) as fast:
        load_playbook(BAD / file)
    monkeypatch.setattr(library, "_SafeLoader", yaml.SafeLoader)
    with pytest.raises(PlaybookError) as slow:
        load_playbook(BAD / file)
    assert fast.value.errors == slow.value.errors


def test_pure_python_fallback_loads_the_same_definitions(monkeypatch):
    import yaml

    from analysis.playbooks import library
    fast = [load_playbook(path) for path in sorted(SHIPPED.glob("*.yaml"))]
    monkeypatch.setattr(library, "_SafeLoader", yaml.SafeLoader)
    slow = [load_playbook(path) for path in sorted(SHIPPED.glob("*.yaml"))]
    assert len(fast) == 12 and fast == slow


def test_merge_keys_load_and_keep_their_lines(tmp_path):
    # Constructing the data flattens a `<<` merge inside the node tree; the line map is taken
    # before that, so merged keys are neither reported as "appears twice" nor lose their line.
    source = (SHIPPED / "adoption.yaml").read_text()
    # Step 2 takes step 1's fields (owner_role among them) by a merge key.
    merged = source.replace("  - number: 1\n    title: Map",
                            "  - &first\n    number: 1\n    title: Map", 1)
    merged = merged.replace(
        "  - number: 2\n    title: Re-onboard inactive users\n    owner_role: CSM\n",
        "  - <<: *first\n    number: 2\n    title: Re-onboard inactive users\n", 1)
    assert merged.count("<<: *first") == 1
    (tmp_path / "adoption.yaml").write_text(merged)
    pb = load_playbook(tmp_path / "adoption.yaml")
    assert pb.steps[1].owner_role == "CSM" and pb.steps[1].number == 2
    line = merged.splitlines().index("    due_day: 10") + 1
    (tmp_path / "adoption.yaml").write_text(merged.replace("    due_day: 10", "    due_day: soon"))
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path / "adoption.yaml")
    assert (f"adoption.yaml:{line}: steps[1].due_day: must be a whole number of days, "
            "got 'soon'") in info.value.errors
    assert not [e for e in info.value.errors if "appears twice" in e]


def test_a_branch_may_name_a_template_only_when_the_template_library_is_given(tmp_path):
    (tmp_path / "at_risk.yaml").write_text(_shipped_text("at_risk"))
    alone, _ = check_folder(tmp_path)
    assert [e for e in alone if "'executive_escalation' in the folder" in e]
    with_templates, _ = check_folder(tmp_path, SHIPPED)
    assert with_templates == []
