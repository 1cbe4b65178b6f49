"""analysis/ingest/readers.py: one streaming path for every input (issue 12 item 4) and ZIP
archives holding several files (issue 14).

A plain CSV and the same bytes as a ZIP member go through the same Source class and the same
parse cascade and give identical chunks; a member is inflated as it is read, never whole.
"""
from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import analysis.ingest.readers as readers
from analysis.ingest.readers import ImportRefused, archive_members, open_export, read_bytes

ACCOUNTS = "account_id,name,segment\nA1,Acme,SMB\nA2,Beta,Enterprise\n"
CSMS = "csm_id,name,email\nc1,Jane Doe,jane@example.com\n"
RENEWALS = "renewal_id,account_id,renewal_date,outcome\nR1,A1,2025-01-31,renewed\n"

# Shapes the reader must keep handling, each as the bytes a tool writes.
SHAPES = {
    "utf8-bom-footer": ("\ufeffAccount ID,Account Name\r\nA-1,Acme\r\nA-2,\"Beta, Inc\"\r\n\r\n"
                        "Grand Totals (2 records)\r\nConfidential Information - Do Not "
                        "Distribute\r\n").encode("utf-8"),
    "cp1252-semicolons": ("Account ID;Account Name;ARR\nA-1;Café Zürich;1.234,5\n"
                          "A-2;René;99,9\n").encode("cp1252"),
    "utf16-title-lines": ("Accounts report\n\nAccount ID\tName\tRegion\nA-1\tZoë\tEMEA\n"
                          "A-2\tÅsa\tNordics\n").encode("utf-16"),
    "quoted-newlines-ragged": ('id,note\n1,"two\nlines"\n2,plain\n3,x,extra\n4\n'
                               '5,"say ""hi"""\n').encode("utf-8"),
}


def _zip(path: Path, members: dict[str, bytes | str], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _chunks(source, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, malformed = [], []
    for chunk in source.chunks(rows):
        frames.append(chunk.frame)
        malformed.append(chunk.malformed)
    return pd.concat(frames), pd.concat(malformed, ignore_index=True)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_csv_and_the_same_csv_in_a_zip_take_one_path_to_identical_chunks(tmp_path, shape,
                                                                           monkeypatch):
    data = SHAPES[shape]
    plain = tmp_path / "export.csv"
    plain.write_bytes(data)
    archive = _zip(tmp_path / "export.zip", {"reports/export.csv": data,
                                             "other.csv": ACCOUNTS, "more.csv": CSMS})
    parsed = []
    cascade = readers._parse_records

    def spying(payload, *args):
        parsed.append(payload)
        return cascade(payload, *args)

    monkeypatch.setattr(readers, "_parse_records", spying)
    sources = [open_export(plain), open_export(archive, member="reports/export.csv")]
    # Both are the one CSV source and both parsed their records by the one cascade.
    assert type(sources[0]) is type(sources[1]) is readers._CsvSource
    assert parsed and len(parsed) % 2 == 0 and parsed[:len(parsed) // 2] == parsed[len(parsed) // 2:]
    (frame, malformed), (zframe, zmalformed) = (_chunks(s, 2) for s in sources)
    pd.testing.assert_frame_equal(frame, zframe)
    pd.testing.assert_frame_equal(malformed, zmalformed)
    assert sources[0].headers == sources[1].headers
    assert sources[0].delimiter == sources[1].delimiter
    assert set(sources[1].notes) == {*sources[0].notes, "read reports/export.csv from the archive"}
    # The member's own bytes are hashed: the same file zipped or not is the same import.
    assert sources[0].sha256 == sources[1].sha256
    # And read_bytes (the whole file as one frame) is the same chunks gathered.
    pd.testing.assert_frame_equal(read_bytes(data, "export.csv").frame, frame)


def test_every_shape_reads_as_the_file_means_it():
    footer = read_bytes(SHAPES["utf8-bom-footer"], "a.csv")
    assert footer.frame.to_dict("records") == [
        {"Account ID": "A-1", "Account Name": "Acme"},
        {"Account ID": "A-2", "Account Name": "Beta, Inc"},
        {"Account ID": "", "Account Name": ""}]  # the blank line before the footer
    assert footer.notes == ("dropped the report footer (2 lines)",)
    european = read_bytes(SHAPES["cp1252-semicolons"], "b.csv")
    assert (european.delimiter, european.frame.loc[2, "Account Name"]) == (";", "Café Zürich")
    titled = read_bytes(SHAPES["utf16-title-lines"], "c.csv")
    assert titled.frame.loc[4, "Name"] == "Zoë" and titled.frame.index.tolist() == [4, 5]
    assert titled.notes == ("skipped 1 title line above the header",)
    ragged = read_bytes(SHAPES["quoted-newlines-ragged"], "d.csv")
    # Rows are records: row 2 holds two physical lines; row 4 has an extra field.
    assert ragged.frame.loc[2, "note"] == "two\nlines"
    assert ragged.frame.loc[6, "note"] == 'say "hi"'
    assert ragged.malformed.to_dict("records") == [
        {"row_number": 4, "raw": "3,x,extra", "reason": "row has 3 fields, the header has 2"}]


def test_a_zip_member_is_inflated_as_it_is_read_not_whole(tmp_path, monkeypatch):
    rng = random.Random(7)
    lines = ["account_id,name,segment"] + [
        f"A{i},{''.join(rng.choices('abcdefghij klmnop', k=40))},SMB" for i in range(150_000)]
    data = ("\n".join(lines) + "\n").encode()
    archive = _zip(tmp_path / "big.zip", {"accounts.csv": data})
    reads = []
    read = readers._MemberStream.read

    def counting(self, size=-1):
        out = read(self, size)
        reads.append(len(out))
        return out

    monkeypatch.setattr(readers._MemberStream, "read", counting)
    source = open_export(archive, scan=False)
    rows = sum(len(chunk.frame) for chunk in source.chunks(20_000))
    assert rows == 150_000 and len(data) > 6_000_000
    # No read asked for more than the head that settles the encoding and delimiter (2 MB).
    assert max(reads) <= readers._HEAD_BYTES < len(data) / 3


def test_several_members_are_refused_until_one_is_named(tmp_path):
    archive = _zip(tmp_path / "crm.zip", {"data/accounts.csv": ACCOUNTS, "data/csms.csv": CSMS,
                                          "renewals.csv": RENEWALS, "__MACOSX/._x": "junk"})
    assert archive_members(archive) == ("data/accounts.csv", "data/csms.csv", "renewals.csv")
    with pytest.raises(ImportRefused) as err:
        open_export(archive)
    assert str(err.value) == (
        "crm.zip holds 3 files (data/accounts.csv, data/csms.csv, renewals.csv); say which "
        "one to import with --member NAME, e.g. --member data/accounts.csv")
    # The path inside the archive, or its file name alone.
    assert open_export(archive, member="data/csms.csv").headers == ("csm_id", "name", "email")
    assert open_export(archive, member="renewals.csv").headers[0] == "renewal_id"
    with pytest.raises(ImportRefused) as err:
        open_export(archive, member="nope.csv")
    assert str(err.value) == ("crm.zip has no member 'nope.csv'; it holds data/accounts.csv, "
                              "data/csms.csv, renewals.csv")


def test_a_readme_beside_one_export_is_no_choice_to_make(tmp_path):
    archive = _zip(tmp_path / "dl.zip", {"README.md": "# about", "accounts.csv": ACCOUNTS})
    assert archive_members(archive) == ()
    source = open_export(archive)
    assert source.file_name == "dl.zip" and source.headers == ("account_id", "name", "segment")


def test_archive_members_is_empty_for_anything_but_a_zip_with_a_choice(tmp_path):
    plain = tmp_path / "a.csv"
    plain.write_text(ACCOUNTS)
    assert archive_members(plain) == ()
    assert archive_members(_zip(tmp_path / "one.zip", {"a.csv": ACCOUNTS})) == ()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x01" * 50)
    assert archive_members(broken) == ()
    with pytest.raises(ImportRefused, match=r"^a.csv is not a ZIP archive; there is no member "
                                            r"'a.csv' to read$"):
        open_export(plain, member="a.csv")
