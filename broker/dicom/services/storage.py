"""storage: not offered yet."""

SUPPORTED_CONTEXTS = []


def handlers():
    return []
