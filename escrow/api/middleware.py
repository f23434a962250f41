"""The API edge's middleware: request size bounded before anything reads the body, and
the rate-limit fields a throttle counted added to the answer (escrow/api/ratelimit.py).

It sits first in `MIDDLEWARE`, so a body over `API_MAX_BODY_BYTES` is refused with a
413 problem on its declared `Content-Length` before CSRF, sessions or a view read a
byte of it (Django would otherwise raise `RequestDataTooBig` from whichever code read
`request.body` first, and DRF would turn that into a 500). Without a
`Content-Length`, WSGI gives the application no body at all.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from escrow.api.negotiation import problem_wanted
from escrow.api.parsers import body_too_large
from escrow.api.problems import problem_for_exception, problem_is_outage
from escrow.api.ratelimit import rate_limit_headers_add


class ApiEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if problem_wanted(request):
            limit = settings.API_MAX_BODY_BYTES
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0  # Django reads an unparsable length as no body
            if declared > limit:
                response = problem_for_exception(body_too_large(limit))
                # The unread body stays on the connection: close it rather than make
                # the server drain megabytes for a request already refused.
                response["Connection"] = "close"
                return response
        answer = self.get_response(request)
        rate_limit_headers_add(request, answer)
        return answer

    def process_exception(self, request: HttpRequest, exception: Exception
                          ) -> HttpResponse | None:
        # DRF views map their own exceptions; this catches a dependency outage (the
        # database, Redis) in any other view under /api/ and /log/, which would
        # otherwise be a 500. Anything else is left to Django, which logs it and calls
        # handler500.
        if problem_wanted(request) and problem_is_outage(exception):
            return problem_for_exception(exception)
        return None
