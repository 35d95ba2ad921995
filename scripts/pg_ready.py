"""Exit 0 when the PostgreSQL server of DATABASE-URL answers (used by `make test`)."""
import sys

import psycopg

url = sys.argv[1]
server_url = url.rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(server_url, connect_timeout=3).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL not reachable: {exc}".strip(), file=sys.stderr)
    sys.exit(1)
