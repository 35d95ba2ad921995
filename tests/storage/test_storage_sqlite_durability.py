"""BROKER_SQLITE_SYNCHRONOUS: what the SQLite connection really runs with, read back from SQLite itself."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # child processes: each test starts Django again

ROOT = Path(__file__).resolve().parents[2]
READ_BACK = ("from django.db import connection; cursor = connection.cursor(); "
             "cursor.execute('PRAGMA synchronous'); print('synchronous', cursor.fetchone()[0]); "
             "cursor.execute('PRAGMA journal_mode'); print('journal', cursor.fetchone()[0])")


def broker_shell(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_SQLITE_SYNCHRONOUS")}
    environment.update(BROKER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="broker.settings", **env)
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", READ_BACK], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("setting, level", [(None, "1"), ("NORMAL", "1"), ("FULL", "2"), ("full", "2")])
def test_it_runs_sqlite_with_the_configured_synchronous_level(tmp_path, setting, level):
    result = broker_shell(tmp_path, **({} if setting is None else {"BROKER_SQLITE_SYNCHRONOUS": setting}))

    assert result.returncode == 0, result.stderr
    assert f"synchronous {level}" in result.stdout  # SQLite: 1 = NORMAL, 2 = FULL
    assert "journal wal" in result.stdout


@pytest.mark.parametrize("setting", ["OFF", "EXTRA", "yes"])
def test_it_refuses_a_synchronous_level_that_is_not_normal_or_full(tmp_path, setting):
    result = broker_shell(tmp_path, BROKER_SQLITE_SYNCHRONOUS=setting)

    assert result.returncode != 0
    assert f"BROKER_SQLITE_SYNCHRONOUS={setting.upper()!r}: use NORMAL or FULL" in result.stderr
