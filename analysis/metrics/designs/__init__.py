"""Effect designs: the estimates every verdict rests on (DESIGN.md, "Effects and claims").

Each module is pure functions over small frames; the metric modules gather the frames in SQL
and call them.
"""
