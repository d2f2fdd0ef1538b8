"""Load benchmark: the SCIM server under gunicorn, driven by wrk, against a bare Flask ceiling (bench/load/run.py)."""
