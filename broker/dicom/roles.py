"""Every association role the broker plays as SCU, as data (broker.core.dicom_roles.ScuRole).

The SCP side is `broker.dicom.services.scp_contexts()`. A module that opens associations for a new purpose
declares its `ScuRole`, builds its proposal with `role.request_on(ae)`, and is listed here: the Conformance
Statement then shows it without a change of its own.
"""
from broker.availability.sending import IAN_SCU
from broker.dicom.commitment_reports import COMMITMENT_REPORT_SCU
from broker.outbound.forwarding import MPPS_FORWARD_SCU
from broker.routing.moving import MOVE_SCU
from broker.routing.sending import STORAGE_SCU

SCU_ROLES = (STORAGE_SCU, MOVE_SCU, MPPS_FORWARD_SCU, COMMITMENT_REPORT_SCU, IAN_SCU)
