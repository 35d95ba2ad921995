"""What every web page gets under a hospital security policy: idle sessions end, nothing is cached, and a
Content-Security-Policy that allows only the broker's own static scripts and styles (docs/security/web-data.md).
"""
import time

from django.conf import settings
from django.contrib.auth import logout
from django.utils.cache import add_never_cache_headers

# No inline script or style anywhere (the templates keep theirs in broker/dashboard/static); the admin's own
# scripts are static files too. data: images are the favicon placeholder and the admin's icons.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
LAST_SEEN_KEY = "broker_last_seen"
# The pages' own auto-refresh (refresh.js) sends this header: a screen left open does not keep its session.
REFRESH_HEADER = "HTTP_X_REFRESH"


class IdleSessionMiddleware:
    """Logs out a session that made no request of its own for BROKER_SESSION_IDLE_MINUTES; the log-in
    middleware then sends the browser to the log-in page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(LAST_SEEN_KEY)
            if last_seen is not None and now - last_seen > settings.BROKER_SESSION_IDLE_MINUTES * 60:
                logout(request)
            elif last_seen is None or not request.META.get(REFRESH_HEADER):
                # Saving also renews the cookie's and the stored session's expiry (SESSION_COOKIE_AGE).
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """no-store on every page (they show patient data; the admin too) and the Content-Security-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
