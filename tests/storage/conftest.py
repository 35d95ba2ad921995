"""Fixtures of the storage tests."""
import pytest


@pytest.fixture
def nearly_full_storage(settings, tmp_path):
    """A real 64 KB file system (tmpfs) as the storage directory, mostly filled."""
    import subprocess

    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    (mount_point / "filler").write_bytes(b"\0" * 40 * 1024)
    settings.BROKER_STORAGE_DIR = mount_point / "storage"
    yield settings.BROKER_STORAGE_DIR
    subprocess.run(["umount", str(mount_point)], check=True)
