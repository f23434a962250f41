"""Root URLs: each app owns its own; the composition root only mounts them."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health, metrics
from escrow.api import problems

urlpatterns = [
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("escrow.vault.urls")),
    path("api/v1/", include("legal_requests.urls")),
    path("", include("escrow.audit.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz/live", health.liveness, name="health-live"),
    path("healthz/ready", health.readiness, name="health-ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("transparency/", include("console.public_urls")),
    # Unknown API and log paths answer as the API does (problem+json), also with DEBUG
    # on, and for every method: the catch-all changes nothing, so CSRF has nothing to
    # protect (checking it turned an unknown POST into Django's HTML CSRF page).
    re_path(r"^(?:api|log)/", csrf_exempt(problems.handler404)),
]

handler400 = "escrow.api.problems.handler400"
handler403 = "escrow.api.problems.handler403"
handler404 = "escrow.api.problems.handler404"
handler500 = "escrow.api.problems.handler500"
