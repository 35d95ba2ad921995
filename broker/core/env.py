"""Typed readers for the broker's environment variables: a bad value fails loudly at start-up."""
import os


class ConfigurationError(RuntimeError):
    pass


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number; unset it or give e.g. {default}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number; unset it or give e.g. {default}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use true or false")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (compared in lower case); anything else stops start-up naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name}={raw!r} is not one of {', '.join(choices)}; unset it or give e.g. {default}")
    return value


def env_optional_int(name: str) -> int | None:
    """A whole number, or None when the variable is unset or empty (a feature that is off unless configured)."""
    if os.environ.get(name, "") == "":
        return None
    return env_int(name, 0)


def env_days(name: str, default: int, minimum: int = 1) -> int:
    """A retention period in whole days: 0 means kept for ever, otherwise at least `minimum`."""
    days = env_int(name, default)
    if days != 0 and days < minimum:
        raise ConfigurationError(f"{name}={days}: give 0 (keep forever) or at least {minimum} days")
    return days
