"""env_days: a retention period read from the environment, 0 = for ever, else at least the minimum."""
import pytest

from broker.core.env import ConfigurationError, env_days


@pytest.mark.parametrize("raw, minimum, expected", [
    (None, 7, 180), ("", 7, 180), ("0", 7, 0), ("7", 7, 7), ("3650", 7, 3650), ("1", 1, 1),
])
def test_it_reads_a_period_or_forever(monkeypatch, raw, minimum, expected):
    if raw is None:
        monkeypatch.delenv("BROKER_TEST_DAYS", raising=False)
    else:
        monkeypatch.setenv("BROKER_TEST_DAYS", raw)
    assert env_days("BROKER_TEST_DAYS", 180, minimum) == expected


@pytest.mark.parametrize("raw, minimum, message", [
    ("6", 7, "BROKER_TEST_DAYS=6: give 0 (keep forever) or at least 7 days"),
    ("-1", 1, "BROKER_TEST_DAYS=-1: give 0 (keep forever) or at least 1 days"),
    ("a year", 1, "BROKER_TEST_DAYS='a year' is not a whole number"),
])
def test_it_refuses_a_period_naming_the_variable(monkeypatch, raw, minimum, message):
    monkeypatch.setenv("BROKER_TEST_DAYS", raw)
    with pytest.raises(ConfigurationError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        env_days("BROKER_TEST_DAYS", 180, minimum)
