"""The generated secret key: private from its first byte, written once even when two processes start together."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs the settings module in a fresh interpreter under umask 022 (a usual default) and reports what the
# key file looked like at the moment its first byte was about to be written.
PROBE = r"""
import os, stat, sys
os.umask(0o022)
real_fdopen = os.fdopen
def watching_fdopen(fd, *args, **kwargs):
    print("mode-before-write", oct(stat.S_IMODE(os.fstat(fd).st_mode)), os.fstat(fd).st_size)
    return real_fdopen(fd, *args, **kwargs)
os.fdopen = watching_fdopen
sys.path.insert(0, os.getcwd())
import broker.settings as s
print("key", s.SECRET_KEY)
"""


def _start(data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    env["BROKER_DATA_DIR"] = str(data_dir)
    return subprocess.Popen([sys.executable, "-c", PROBE], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def test_it_creates_the_key_file_0600_before_writing_it(tmp_path):
    out = _finish(_start(tmp_path / "var"))
    assert "mode-before-write 0o600 0" in out
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_it_creates_the_data_directory_0700(tmp_path):
    _finish(_start(tmp_path / "var"))
    assert oct((tmp_path / "var").stat().st_mode & 0o777) == "0o700"


def test_it_keeps_one_key_when_several_processes_start_at_once(tmp_path):
    starters = [_start(tmp_path / "var") for _ in range(4)]
    outputs = [_finish(proc) for proc in starters]
    keys = {line.split()[1] for out in outputs for line in out.splitlines() if line.startswith("key ")}
    assert len(keys) == 1
    assert sum(out.count("mode-before-write") for out in outputs) == 1  # one writer, the others read
    assert (tmp_path / "var" / "secret_key").read_text().strip() in keys


def test_it_keeps_the_existing_key_on_a_later_start(tmp_path):
    first = _finish(_start(tmp_path / "var"))
    second = _finish(_start(tmp_path / "var"))
    assert [line for line in first.splitlines() if line.startswith("key ")] == \
        [line for line in second.splitlines() if line.startswith("key ")]
