"""Staff actions (POST only): each checks its permission, calls the owning area's function, and says what happened."""
import logging

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from broker.availability import services as availability
from broker.dashboard import auditing
from broker.hl7 import intake
from broker.hl7.models import HL7Message
from broker.outbound import services as outbound
from broker.routing import services as routing
from mpps import services as mpps
from mpps.models import PerformedProcedureStep

log = logging.getLogger(__name__)


def _patient_ids_of_message(message: HL7Message) -> list[str]:
    if message.patient_id is None:
        return []
    return list(HL7Message.objects.filter(pk=message.pk).values_list("patient__patient_id", flat=True))


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(fallback)


def _run(request, what: str, function, *args, audit: tuple[str, int]) -> bool:
    """Call the owning area's function; an error it raises becomes a message for the person who clicked.

    `audit` = (object type, id): the action's audit event is written in the same transaction as its work,
    or, when the area refuses, on its own."""
    object_type, pk = audit
    try:
        with transaction.atomic():
            result = function(*args)
            if result is not False:
                auditing.action(request, what, object_type, pk, done=True)
    except Exception as exc:  # the area refuses (wrong state, unknown id): tell the person, keep the page
        log.warning("%s by %s failed: %s", what, request.user, exc)
        auditing.action(request, what, object_type, pk, done=False, refusal=str(exc)[:200])
        messages.error(request, f"Could not {what}: {exc}")
        return False
    if result is False:  # the area's conditional update found the row in another state (someone was quicker)
        auditing.action(request, what, object_type, pk, done=False, refusal="no longer in a state that allows it")
        messages.warning(request, f"Did not {what}: it is no longer in a state that allows it.")
        return False
    log.info("%s by %s", what, request.user)
    messages.success(request, what[0].upper() + what[1:] + ": done.")
    return True


def _simple_action(permission: str, what: str, function, fallback_url: str, object_type: str):
    @require_POST
    @permission_required(permission, raise_exception=True)
    def view(request, pk: int):
        _run(request, f"{what} #{pk}", function, pk, audit=(object_type, pk))
        return _back(request, reverse(fallback_url))

    view.__name__ = function.__name__
    return view


retry_job = _simple_action("dashboard.manage_routing", "retry routing job", routing.retry_job, "dashboard:routing", "routing_job")
give_up_job = _simple_action("dashboard.manage_routing", "give up routing job", routing.give_up_job, "dashboard:routing", "routing_job")
release_study = _simple_action("dashboard.manage_routing", "release study", routing.release_study, "dashboard:problems", "study")
complete_study = _simple_action("dashboard.manage_routing", "mark study complete", routing.mark_study_complete, "dashboard:problems", "study")
retry_notification = _simple_action("dashboard.manage_outbound", "retry RIS notification", outbound.retry_notification, "dashboard:outbound", "ris_notification")
give_up_notification = _simple_action("dashboard.manage_outbound", "give up RIS notification", outbound.give_up_notification, "dashboard:outbound", "ris_notification")
retry_forward = _simple_action("dashboard.manage_outbound", "retry MPPS forward", outbound.retry_forward, "dashboard:outbound", "mpps_forward")
give_up_forward = _simple_action("dashboard.manage_outbound", "give up MPPS forward", outbound.give_up_forward, "dashboard:outbound", "mpps_forward")
retry_availability = _simple_action("dashboard.manage_outbound", "retry IAN", availability.retry, "dashboard:outbound", "availability_notification")
give_up_availability = _simple_action("dashboard.manage_outbound", "give up IAN", availability.give_up, "dashboard:outbound", "availability_notification")


@require_POST
@permission_required("dashboard.replay_hl7", raise_exception=True)
def replay_hl7(request, pk: int):
    """Feed a rejected message, exactly as received, through intake again (after its cause was fixed)."""
    message = get_object_or_404(HL7Message, pk=pk)
    detail = reverse("dashboard:hl7_detail", args=[pk])
    if message.outcome == HL7Message.Outcome.ACCEPTED:
        messages.error(request, "This message was accepted; only rejected messages are replayed.")
        return HttpResponseRedirect(detail)
    # Lock the row so two clicks cannot replay it twice.
    with transaction.atomic():
        locked = HL7Message.objects.select_for_update().get(pk=pk)
        if locked.replayed_as_id is not None:
            messages.error(request, f"Already replayed as message #{locked.replayed_as_id}.")
            return HttpResponseRedirect(detail)
        try:
            receipt = intake.receive(bytes(locked.raw), peer="replay", check_sender=False)  # staff vouch for it
        except Exception as exc:
            log.warning("replay of HL7 message %s by %s failed: %s", pk, request.user, exc)
            messages.error(request, f"Could not replay message #{pk}: {exc}")
            return HttpResponseRedirect(detail)
        locked.replayed_as = receipt.message
        locked.save(update_fields=["replayed_as"])
        auditing.action(request, f"replay HL7 message #{pk}", "hl7", pk, done=True,
                        patient_ids=_patient_ids_of_message(receipt.message), replayed_as=receipt.message.pk,
                        answered=receipt.message.outcome)
    log.info("HL7 message %s replayed by %s as %s (%s)", pk, request.user, receipt.message.pk, receipt.message.outcome)
    level = messages.SUCCESS if receipt.message.outcome == HL7Message.Outcome.ACCEPTED else messages.WARNING
    messages.add_message(request, level, f"Replayed as message #{receipt.message.pk}: answered {receipt.message.outcome}.")
    return HttpResponseRedirect(reverse("dashboard:hl7_detail", args=[receipt.message.pk]))


@require_POST
@permission_required("dashboard.link_mpps", raise_exception=True)
def link_mpps(request, pk: int):
    performed = get_object_or_404(PerformedProcedureStep, pk=pk)
    try:
        step_ids = [int(value) for value in request.POST.getlist("step")]
    except ValueError:
        step_ids = []
    detail = reverse("dashboard:mpps_detail", args=[performed.pk])
    if not step_ids:
        messages.error(request, "Choose the scheduled step(s) this MPPS performed.")
        return HttpResponseRedirect(detail)
    _run(request, f"link MPPS #{pk} to step(s) {', '.join(map(str, step_ids))}",
         mpps.link_unscheduled, performed.pk, step_ids, audit=("mpps", performed.pk))
    return HttpResponseRedirect(detail)
