"""Fixtures of the routing tests: a clean Redis db, real Celery workers, a private restartable Redis."""
import shutil

import pytest

from tests.routing.support import CeleryWorker, RedisServer
from tests.services import missing


@pytest.fixture
def redis_db(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # our own db number: drop messages of earlier runs
    yield redis_url
    client.flushdb()


@pytest.fixture
def celery_worker_factory(database_url_for_subprocess, storage_dir, tmp_path):
    workers = []

    def start(redis_url: str, **env):
        worker = CeleryWorker(redis_url, database_url_for_subprocess, tmp_path, env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()
