"""Value parsers: dates, numbers, booleans and vocabularies as exports write them."""
from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from analysis.ingest import values as V


def _dates(texts, **kw):
    parsed = V.parse_dates(pd.Series(texts, dtype=object), **kw)
    return [None if pd.isna(v) else v.date() for v in parsed.values], parsed.bad.tolist()


def test_dates_in_every_export_format():
    got, bad = _dates([
        "2024-03-01", "2024-03-01T23:30:00-05:00", "2020-12-22T21:16:01Z", "3/14/2025",
        "01.02.2024", "2024/02/03", "Jan 5, 2024", "5 Jan 2024", "11/23/2026 9:00 AM",
        "3/4/24", "45000", "  2024-03-01  ", "", None, "TBD", "2024-13-45", "99999"])
    assert got == [
        date(2024, 3, 1), date(2024, 3, 1), date(2020, 12, 22), date(2025, 3, 14),
        date(2024, 2, 1), date(2024, 2, 3), date(2024, 1, 5), date(2024, 1, 5),
        date(2026, 11, 23), date(2024, 3, 4),
        # Excel serial 45000: 45000 days after 1899-12-30 (Excel's DATEVALUE("2023-03-15")).
        date(2023, 3, 15), date(2024, 3, 1), None, None, None, None, None]
    assert bad == [False] * 12 + [False, False, True, True, True]


def test_day_first_reads_the_day_first():
    got, _ = _dates(["03/04/2024", "13/04/2024"], day_first=True)
    assert got == [date(2024, 4, 3), date(2024, 4, 13)]
    got, bad = _dates(["03/04/2024", "13/04/2024"], day_first=False)
    assert got == [date(2024, 3, 4), None] and bad == [False, True]


def test_timestamps_keep_the_time_and_convert_zones_to_utc():
    parsed = V.parse_dates(pd.Series(["2024-03-01T23:30:00-05:00", "2024-03-01 08:15"]),
                           timestamp=True)
    assert parsed.values.tolist() == [pd.Timestamp("2024-03-02 04:30"),
                                      pd.Timestamp("2024-03-01 08:15")]


def test_slash_order_is_settled_by_a_field_over_12():
    assert V.slash_order(pd.Series(["01/02/2024", "25/02/2024"])) is True
    assert V.slash_order(pd.Series(["01/02/2024", "02/25/2024"])) is False
    assert V.slash_order(pd.Series(["01/02/2024", "03/04/2024"])) is None
    assert V.has_ambiguous_slash_dates(pd.Series(["01/02/2024"])) is True
    assert V.has_ambiguous_slash_dates(pd.Series(["01/01/2024", "2024-05-06"])) is False


def test_numbers_with_currency_suffixes_and_separators():
    texts = ["$12,400.00", "€1.234,56", "58.8k", "1.2M", "(1,000)", "12 400", "1'000", "-3",
             "45%", "12,5", "1,234", "-$5", "1e3", "£ 7", "abc", "", None, "1,2,3.4.5"]
    parsed = V.parse_numbers(pd.Series(texts, dtype=object))
    expected = [12400, 1234.56, 58800, 1_200_000, -1000, 12400, 1000, -3, 45, 12.5, 1234, -5,
                1000, 7, None, None, None, None]
    for got, want in zip(parsed.values.tolist(), expected):
        assert (math.isnan(got) if want is None else math.isclose(got, want)), (got, want)
    assert parsed.bad.tolist() == [False] * 14 + [True, False, False, True]


def test_decimal_comma_files_read_commas_as_decimals():
    parsed = V.parse_numbers(pd.Series(["1.234,56", "12,5", "1.234", "12.500", "7"]),
                             decimal_comma=True)
    assert parsed.values.tolist() == [1234.56, 12.5, 1234.0, 12500.0, 7.0]


def test_null_words_are_missing_in_number_and_date_columns():
    texts = pd.Series(["NULL", "N/A", "-", "nan", "#N/A", "None", "7"])
    numbers = V.parse_numbers(texts)
    assert numbers.values.isna().tolist() == [True] * 6 + [False]
    assert not numbers.bad.any()
    dates = V.parse_dates(pd.Series(["NULL", "n/a", "2024-01-02"]))
    assert dates.values.isna().tolist() == [True, True, False] and not dates.bad.any()
    # Infinity is not an amount.
    assert V.parse_numbers(pd.Series(["inf", "-Infinity"])).bad.tolist() == [True, True]


def test_integers_refuse_fractions():
    parsed = V.parse_integers(pd.Series(["5", "5.0", "5.5", "x", ""]))
    assert parsed.bad.tolist() == [False, False, True, True, False]
    assert parsed.values.iloc[:2].tolist() == [5.0, 5.0]


def test_booleans():
    parsed = V.parse_booleans(pd.Series(["TRUE", "Yes", "1", "y", "false", "No", "0", "",
                                         "maybe"]))
    assert parsed.values.tolist() == [True, True, True, True, False, False, False, None, None]
    assert parsed.bad.tolist() == [False] * 8 + [True]


def test_vocabularies_map_and_flag_unknown_values():
    parsed = V.map_vocabulary(pd.Series(["Closed Won", "closed/won", "Churned", "Negotiation",
                                         ""]), V.RENEWAL_OUTCOMES)
    assert parsed.values.tolist() == ["renewed", "renewed", "churned", None, None]
    assert parsed.bad.tolist() == [False, False, False, True, False]
    runs = V.map_vocabulary(pd.Series(["Closed Success", "Saved", "Failed", "In Progress"]),
                            V.RUN_OUTCOMES)
    assert runs.values.tolist() == ["success", "success", "failure", None]
    assert not runs.bad.any()
    status = V.map_vocabulary(pd.Series(["Closed Invalid", "New", "Done", "Snoozed!"]),
                              V.RUN_STATUSES, prefixes=V.RUN_STATUS_PREFIXES)
    assert status.values.tolist() == ["closed", "open", "closed", "open"]
    steps = V.map_vocabulary(pd.Series(["Completed", "N/A", "Not started", "Later"]),
                             V.STEP_STATUSES)
    assert steps.values.tolist() == ["done", "skipped", "open", None]
    assert steps.bad.tolist() == [False, False, False, True]


def test_overrides_win_over_the_vocabulary():
    parsed = V.map_vocabulary(pd.Series(["Won", "Pending"]), V.RENEWAL_OUTCOMES,
                              overrides={"Won": "churned", "pending": None})
    assert parsed.values.tolist() == ["churned", None]
    assert not parsed.bad.any()


def test_scenarios_are_canonical_or_custom_never_bad():
    parsed = V.parse_scenarios(pd.Series(["Risk", "At Risk", "Upsell", "Escalation",
                                          "usage_drop", "QBR Prep", ""]))
    assert parsed.values.tolist() == ["at_risk", "at_risk", "expansion",
                                      "executive_escalation", "usage_drop", "qbr_prep", None]
    assert not parsed.bad.any()


def test_a_million_values_parse_in_seconds():
    import time
    n = 1_000_000
    amounts = pd.Series([f"${i % 9973:,}.{i % 100:02d}" for i in range(n)])
    dates = pd.Series([f"{1 + i % 12}/{1 + i % 28}/2024" for i in range(n)])
    start = time.perf_counter()
    numbers = V.parse_numbers(amounts)
    parsed = V.parse_dates(dates)
    assert time.perf_counter() - start < 30
    assert not numbers.bad.any() and not parsed.bad.any()
    assert numbers.values.iloc[12345] == pytest.approx(2372.45)  # 12345 % 9973, 12345 % 100


# -- properties: no input makes a parser raise -------------------------------------------------
_TEXT = st.lists(st.one_of(st.none(), st.text(max_size=30),
                           st.from_regex(r"[\d$€(),.\-/ kKmM:TZ+%]{0,20}", fullmatch=True)),
                 min_size=1, max_size=20)


@hsettings(max_examples=150, deadline=None)
@given(_TEXT, st.booleans(), st.booleans())
def test_parse_dates_never_raises(texts, day_first, timestamp):
    parsed = V.parse_dates(pd.Series(texts, dtype=object), day_first=day_first,
                           timestamp=timestamp)
    assert len(parsed.values) == len(texts)
    # Missing stays missing and is not "bad"; anything parsed is not bad.
    assert not (parsed.bad & parsed.values.notna()).any()


@hsettings(max_examples=150, deadline=None)
@given(_TEXT, st.booleans())
def test_parse_numbers_never_raises(texts, decimal_comma):
    parsed = V.parse_numbers(pd.Series(texts, dtype=object), decimal_comma=decimal_comma)
    assert len(parsed.values) == len(texts)
    assert not (parsed.bad & parsed.values.notna()).any()


@hsettings(max_examples=100, deadline=None)
@given(_TEXT)
def test_vocabularies_never_raise(texts):
    series = pd.Series(texts, dtype=object)
    for vocab in (V.RENEWAL_OUTCOMES, V.RUN_OUTCOMES, V.STEP_STATUSES):
        parsed = V.map_vocabulary(series, vocab)
        assert set(parsed.values.dropna()) <= set(v for v in vocab.values() if v)
    assert not V.parse_scenarios(series).bad.any()
    V.parse_booleans(series)


@hsettings(max_examples=100, deadline=None)
@given(st.integers(min_value=-10**9, max_value=10**9), st.integers(0, 99))
def test_formatted_amounts_round_trip(whole, cents):
    text = f"{'-' if whole < 0 else ''}${abs(whole):,}.{cents:02d}"
    value = V.parse_numbers(pd.Series([text])).values.iloc[0]
    assert value == pytest.approx((abs(whole) + cents / 100) * (-1 if whole < 0 else 1))
