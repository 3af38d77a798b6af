"""Server-rendered web pages (Flask, Jinja2)."""
