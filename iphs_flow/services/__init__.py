"""Use cases: one function per thing a user or the scheduler does, one transaction each.

Entrypoints (web, API, CLI, scheduler) call these and never touch SQL or SpiffWorkflow.
"""
