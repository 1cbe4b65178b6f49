"""analysis/ingest/names.py: ids from names (DESIGN.md's rule) and names from ids."""
import pytest

from analysis.ingest.names import display_name, slugify


@pytest.mark.parametrize("playbook_id, shown", [
    ("qbr_prep", "QBR prep"),            # a known acronym in capitals, not "Qbr prep"
    ("at_risk", "At risk"),
    ("ebr_nps_csat_review", "EBR NPS CSAT review"),
    ("smb_arr_expansion", "SMB ARR expansion"),
    ("csms_onboarding", "CSMs onboarding"),  # an acronym's plural
    ("q4_ebr", "Q4 EBR"),
    ("arrival_call", "Arrival call"),    # a word that starts like an acronym stays a word
    ("renewal", "Renewal"),
])
def test_display_name_reads_an_id_as_words(playbook_id, shown):
    assert display_name(playbook_id) == shown


def test_display_name_of_a_slug_slugifies_back_to_it():
    # The name shown for an id is one that the id rule turns back into that id.
    for playbook_id in ("qbr_prep", "smb_arr_expansion", "q4_ebr"):
        assert slugify(display_name(playbook_id)) == playbook_id


def test_display_name_of_nothing_is_nothing():
    assert display_name("") == ""
