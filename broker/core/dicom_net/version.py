"""The pynetdicom versions the broker is tested with, and the gate that refuses to start on another.

This package reaches into pynetdicom's internals (see its docstring); a release that renames one breaks
the broker in ways a test run shows at once but a production start does not. So a listener (`listener.start`)
and the router (before it opens an association) call `require_tested()`: on an untested version it stops
with a message naming both versions and what to do. Not checked at import, so tools and tests that only
import the code still work. BROKER_PYNETDICOM_UNTESTED=allow runs anyway (with a warning), for trying a
new release before it is added here; the C-FIND Command Set cache is then left out (pynetdicom's own code
answers), every other hook still applies.
"""
import logging

import pynetdicom
from django.conf import settings

log = logging.getLogger(__name__)

# The versions the whole suite passed with (requirements.txt pins the first). Add one only after a full run.
TESTED_VERSIONS = ("3.0.4",)
OVERRIDE = "BROKER_PYNETDICOM_UNTESTED"
_warned: set[str] = set()  # the override's warning once per process and version, not once per association


class UntestedPynetdicom(RuntimeError):
    """The installed pynetdicom is not one of TESTED_VERSIONS and the override is not set."""


def installed_version() -> str:
    return pynetdicom.__version__


def is_tested(version: str | None = None) -> bool:
    return (version or installed_version()) in TESTED_VERSIONS


def problem(version: str | None = None) -> str:
    """Why this pynetdicom must not run the broker, in words; "" when it is a tested one."""
    version = version or installed_version()
    if is_tested(version):
        return ""
    return (f"pynetdicom {version} is installed, but the broker is tested with pynetdicom "
            f"{' or '.join(TESTED_VERSIONS)} only (broker/core/dicom_net uses its internals). "
            f"Install the tested version (pip install -r requirements.txt), or set {OVERRIDE}=allow "
            "to run with this one at your own risk.")


def require_tested(allow: bool | None = None) -> None:
    """Raise UntestedPynetdicom on an untested pynetdicom unless BROKER_PYNETDICOM_UNTESTED=allow."""
    why = problem()
    if not why:
        return
    if allow is None:
        allow = settings.BROKER_PYNETDICOM_UNTESTED == "allow"
    if not allow:
        raise UntestedPynetdicom(why)
    if installed_version() in _warned:
        return
    _warned.add(installed_version())
    log.warning("pynetdicom %s is untested (tested: %s); running because %s=allow", installed_version(),
                ", ".join(TESTED_VERSIONS), OVERRIDE)
