"""What the web pages and the REST API share, and neither owns: the HTTP layer.

identity (session cookie, bearer token, JWT), problem details (RFC 9457, written once),
security headers, CSRF and rate limits, the language of the answer, and the error
handlers that give people an HTML page and API callers problem+json. `web/` and `api/`
both build on this package and never import each other (import-linter checks it).
"""
