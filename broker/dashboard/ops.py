"""Operations endpoints for machines: /healthz for load balancers and supervisors, /metrics for Prometheus."""
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from broker.dashboard import health, metrics


@login_not_required
@never_cache
@require_GET
def healthz(request):
    results = health.run_checks(settings.BROKER_HEALTH_CHECKS)
    failing = [name for name, result in results.items() if result != "ok"]
    body = {"status": "error" if failing else "ok", **results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


@login_not_required
@never_cache
@require_GET
def metrics_view(request):
    token = settings.BROKER_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token (BROKER_METRICS_TOKEN)\n", status=401,
                                content_type="text/plain", headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
