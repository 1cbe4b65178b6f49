import pandas as pd

from analysis.present.export import neutralise_cell, to_safe_csv


def test_formula_cells_are_neutralised_and_numbers_kept():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "Acme"],
                          "n": [1, -2, 3, 4, 5]})
    text = to_safe_csv(frame).decode("utf-8-sig").splitlines()
    assert text[0] == "name,n"
    assert text[1] == "\"'=HYPERLINK(\"\"x\"\")\",1"
    assert text[2] == "'+1,-2"
    assert text[3] == "'-2,3"
    assert text[4] == "'@SUM(A1),4"
    assert text[5] == "Acme,5"


def test_neutralise_leaves_non_text_alone():
    assert neutralise_cell(-3) == -3
    assert neutralise_cell(None) is None
