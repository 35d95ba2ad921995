"""Staff pages and operations endpoints."""
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # the point of the endpoint is to report, not raise
        database = f"error: {exc}"
    healthy = database == "ok"
    return JsonResponse({"status": "ok" if healthy else "error", "database": database}, status=200 if healthy else 503)
