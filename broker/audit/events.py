"""The catalogue of audit events: each kind the broker records, and the DICOM audit message it becomes.

Pure data. A kind's `event_id` and `type_code` are the coded values of PS3.15 A.5.3 (DCM) or IHE
transactions; `action` is the EventActionCode (C create, R read, U update, D delete, E execute), which an
event may override with detail["action"] (an HL7 cancel deletes, a new order creates).
"""
from dataclasses import dataclass

Code = tuple[str, str, str]  # (code, coding scheme, meaning)


def dcm(code: str, meaning: str) -> Code:
    return (code, "DCM", meaning)


BROKER_CODES = "99BROKER"  # the broker's own coding scheme, for event types DICOM does not name

APPLICATION_ACTIVITY = dcm("110100", "Application Activity")
AUDIT_LOG_USED = dcm("110101", "Audit Log Used")
BEGIN_TRANSFERRING = dcm("110102", "Begin Transferring DICOM Instances")
INSTANCES_TRANSFERRED = dcm("110104", "DICOM Instances Transferred")
ORDER_RECORD = dcm("110109", "Order Record")
PATIENT_RECORD = dcm("110110", "Patient Record")
PROCEDURE_RECORD = dcm("110111", "Procedure Record")
QUERY = dcm("110112", "Query")
SECURITY_ALERT = dcm("110113", "Security Alert")
USER_AUTHENTICATION = dcm("110114", "User Authentication")


@dataclass(frozen=True)
class Kind:
    name: str
    event_id: Code
    action: str
    type_code: Code | None
    description: str


CATALOGUE: dict[str, Kind] = {}


def _kind(name: str, event_id: Code, action: str, type_code: Code | None, description: str) -> str:
    CATALOGUE[name] = Kind(name, event_id, action, type_code, description)
    return name


# The broker itself
BROKER_START = _kind("broker.start", APPLICATION_ACTIVITY, "E", dcm("110120", "Application Start"),
                     "a broker process started, with its configuration")
BROKER_STOP = _kind("broker.stop", APPLICATION_ACTIVITY, "E", dcm("110121", "Application Stop"),
                    "a broker process stopped")
CERTIFICATE_PROBLEM = _kind("tls.certificate-problem", SECURITY_ALERT, "E", dcm("110126", "Node Authentication"),
                            "a TLS peer's certificate was refused, or the broker's own could not be used")
# Systems
ASSOCIATION_REFUSED = _kind("dicom.association-refused", SECURITY_ALERT, "E", dcm("110126", "Node Authentication"),
                            "a DICOM association was refused (unknown or blocked AE, wrong called AE, limits)")
HL7_ORDER = _kind("hl7.order", ORDER_RECORD, "U", None,
                  "an HL7 order message applied (new C, change U, cancel or discontinue D)")
HL7_PATIENT = _kind("hl7.patient", PATIENT_RECORD, "U", None, "an HL7 ADT message applied (patient created, updated, merged)")
HL7_REFUSED = _kind("hl7.refused", ORDER_RECORD, "E", None, "an HL7 message refused (AE or AR): nothing applied")
MWL_QUERY = _kind("mwl.query", QUERY, "E", ("RAD-5", "IHE Transactions", "Query Modality Worklist"),
                  "a Modality Worklist C-FIND: calling AE, address, patients returned")
MPPS_CREATE = _kind("mpps.create", PROCEDURE_RECORD, "C", ("RAD-6", "IHE Transactions", "Modality Procedure Step In Progress"),
                    "an MPPS N-CREATE")
MPPS_SET = _kind("mpps.set", PROCEDURE_RECORD, "U", ("RAD-7", "IHE Transactions", "Modality Procedure Step Completed"),
                 "an MPPS N-SET")
STUDY_BEGIN = _kind("study.begin", BEGIN_TRANSFERRING, "E", None, "the first instance of a study arrived")
STUDY_RECEIVED = _kind("study.received", INSTANCES_TRANSFERRED, "C", None,
                       "a study is complete (by MPPS, by an operator or after the quiet time), with its instances")
ROUTING_DELIVERED = _kind("routing.delivered", INSTANCES_TRANSFERRED, "R", None,
                          "a routing job delivered a study to a destination")
# People
LOGIN = _kind("user.login", USER_AUTHENTICATION, "E", dcm("110122", "Login"), "a person logged in")
LOGIN_FAILED = _kind("user.login-failed", USER_AUTHENTICATION, "E", dcm("110122", "Login"), "a failed log-in")
LOCKED_OUT = _kind("user.locked-out", SECURITY_ALERT, "E", ("LOCKOUT", BROKER_CODES, "Log-in locked after repeated failures"),
                   "log-in locked for a user name or an address (django-axes)")
LOGOUT = _kind("user.logout", USER_AUTHENTICATION, "E", dcm("110123", "Logout"), "a person logged out")
DASHBOARD_ACTION = _kind("dashboard.action", ORDER_RECORD, "U", None,
                         "a dashboard action (replay, retry, give up, link, release, mark complete)")
ADMIN_CONFIGURATION = _kind("admin.configuration", SECURITY_ALERT, "U", dcm("110131", "Software Configuration"),
                            "configuration added, changed or deleted in the admin, with before and after")
ADMIN_CORRECTION = _kind("admin.correction", ORDER_RECORD, "U", None,
                         "a patient, order or step corrected in the admin, with before and after")
ADMIN_ACTION = _kind("admin.action", ORDER_RECORD, "U", None, "an admin bulk action on the selected rows")
VIEW_PATIENT = _kind("view.patient", PATIENT_RECORD, "R", None, "a person viewed a page with one patient's data")
VIEW_ORDER = _kind("view.order", ORDER_RECORD, "R", None, "a person viewed an order's page")
VIEW_HL7 = _kind("view.hl7", ORDER_RECORD, "R", None, "a person viewed one HL7 message")
VIEW_QUERY = _kind("view.query", PATIENT_RECORD, "R", None, "a person viewed one worklist query and its matches")
VIEW_MPPS = _kind("view.mpps", PROCEDURE_RECORD, "R", None, "a person viewed one MPPS")
AUDIT_EXPORTED = _kind("audit.exported", AUDIT_LOG_USED, "R", None, "the audit trail was exported")
VIEW_AUDIT = _kind("view.audit", AUDIT_LOG_USED, "R", None, "a person viewed the audit trail page, with its filters")
AUDIT_PURGED = _kind("audit.purged", AUDIT_LOG_USED, "D", None,
                     "the retention purge deleted the oldest events (BROKER_RETENTION_AUDIT_DAYS); where the chain now starts")


def action_of(kind: Kind, detail: dict) -> str:
    action = detail.get("action", kind.action)
    return action if action in ("C", "R", "U", "D", "E") else kind.action
