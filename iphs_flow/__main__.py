"""`python -m iphs_flow ...` is the `iphs-flow` command (serve starts its scheduler this way)."""

from iphs_flow.cli import main

main()
