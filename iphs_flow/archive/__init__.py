"""E-archive packages: a closed case as an E-ARK SIP with CITS ERMS and PREMIS metadata.

Pure file-format code: it is handed what a case holds (`model.py`) and writes the package
folder (`sip.py`). What goes in, and who is pseudonymised, is decided by the service
(`services/archive_export.py`), which reads the database.
"""
