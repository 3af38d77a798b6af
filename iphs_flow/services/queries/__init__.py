"""Read models: the queries behind pages, lists, search and reports (SQL on purpose)."""
