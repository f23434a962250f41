"""The product's URLs plus a bare DRF endpoint that does one INSERT: the baseline."""

from __future__ import annotations

import json

from django.db import connection
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urls


class BareInsertApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    def post(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_bare (body) VALUES (%s) RETURNING id",
                [json.dumps(request.data)],
            )
            row_id = cursor.fetchone()[0]
        return Response({"id": row_id}, status=201)


urlpatterns = [path("bench/bare", BareInsertApi.as_view()), *product_urls]
