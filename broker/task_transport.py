"""The Redis transport of the task queue, with one fix for a worker that must survive a Redis restart.

Celery 5.7.0 handles a lost broker connection by detaching the transport (``collect()``) and then
closing the connection. Closing a channel that still holds unacknowledged messages (acks_late tasks,
retries waiting for their countdown) tries to restore them through a new Redis client, built from the
detached transport's settings: an AttributeError that Celery does not expect, and the worker dies
("Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')").
Here that case is a connection error, which Celery ignores before it reconnects. The messages stay in
Redis's unacked set, redelivered after the visibility timeout; the database sweeps re-enqueue
anything a restarted Redis lost.
"""
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError("the task broker connection was already released")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
