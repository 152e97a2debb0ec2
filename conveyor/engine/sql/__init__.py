"""The SQL the engine runs on a destination, one module per concern.

`values` writes cursor values and comparisons, `merge` merges staged rows by key,
`deletes` removes (or flags) rows, `history` keeps versions, `schema` adds and widens
columns. Where dialects differ, a module holds a table of dialect → strategy, never a
chain of `if dialect == …`. Every statement is a sqlglot expression: names are quoted by
sqlglot, values are typed literals, nothing is pasted into text.
"""
