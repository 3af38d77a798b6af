"""The BPMN runtime: pure functions of (spec, state, input) -> (state, effects).

Nothing in this package knows about Flask or SQL.
"""
