"""The listener's database threads: a bounded pool whose most recently idle thread takes the next job.

ThreadPoolExecutor hands jobs to its idle threads in turn, so a single busy MLLP connection would go
through every thread's database connection in rotation, each one cold: SQLite drops a connection's page
cache whenever another connection wrote, and each PostgreSQL backend keeps its own caches. Measured on
the 2-core machine this rotation cost about 0.5 ms of CPU per message. Here the thread that just finished
takes the next job, so a steady sender keeps using one warm connection; other threads start only when
jobs overlap.
"""
import threading
from collections import deque
from concurrent.futures import Executor, Future


class _Worker:
    __slots__ = ("wake", "job")

    def __init__(self, job):
        self.wake = threading.Event()
        self.job = job


class LastIdleFirstExecutor(Executor):
    def __init__(self, max_workers: int, thread_name_prefix: str = "worker"):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the last thread to become idle is woken first
        self._backlog: deque = deque()  # jobs waiting while every thread is busy
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        job = (future, fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new jobs after shutdown")
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.set()
            elif len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._run, args=(_Worker(job),), daemon=True,
                                          name=f"{self._prefix}_{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(job)
        return future

    def _run(self, worker: _Worker) -> None:
        while True:
            future, fn, args, kwargs = worker.job
            worker.job = None
            outcome, failed = None, False
            if future.set_running_or_notify_cancel():
                try:
                    outcome = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                    outcome, failed = exc, True
            # Back in line before the result is out: the sender's next message, submitted as soon as the
            # result is seen, must find this thread idle rather than wake another one.
            with self._lock:
                if self._backlog:
                    worker.job = self._backlog.popleft()
                elif not self._shutdown:
                    worker.wake.clear()
                    self._idle.append(worker)
                stopping = self._shutdown and worker.job is None
            if future.running():
                (future.set_exception if failed else future.set_result)(outcome)
            del future, fn, args, kwargs, outcome
            if worker.job is not None:
                continue
            if stopping:
                return
            worker.wake.wait()
            if worker.job is None:  # woken by shutdown
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; jobs already submitted still run (unless cancel_futures); wait for the threads."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._backlog:
                    self._backlog.popleft()[0].cancel()
            idle, self._idle = self._idle, []
            threads = list(self._threads)
        for worker in idle:
            worker.wake.set()
        if wait:
            for thread in threads:
                thread.join()
