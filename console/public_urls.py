"""The console's pages for everyone, signed in or not, mounted at /transparency/ by
config/urls.py (rows in tests/test_authorization_matrix.py like every route)."""

from django.urls import path

from console.views import public

urlpatterns = [
    path("", public.TransparencyPage.as_view(), name="public-transparency"),
    path("log", public.LogKeyPage.as_view(), name="public-log-key"),
]
