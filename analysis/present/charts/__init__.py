"""Plotly figures for the pages and the review pack, one module per question.

Pages call these with the tidy frames the analysis modules return; nothing here queries the
store. The shared look lives in `base`.
"""
