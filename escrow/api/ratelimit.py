"""Rate-limit header fields: what a throttle counted, told to the client on every answer.

draft-ietf-httpapi-ratelimit-headers (revisions 08 to 11) defines two Structured
Fields (RFC 9651), each a List of Items named by a quota policy:

    RateLimit-Policy: "credential";q=6000;w=60    the policy: quota q per window w seconds
    RateLimit: "credential";r=5998;t=42           remaining quota r, reset in t seconds

A throttle records its count on the request (`rate_limit_record`); the API edge
middleware adds both fields to the response, a 429 included, whose `Retry-After`
(RFC 9110 s10.2.3) comes from the one error mapping (escrow/api/problems.py). When the
counter cannot be read (Redis down, limits failing open) nothing is recorded and the
fields are left out rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

_ATTRIBUTE = "_escrow_rate_limit"


@dataclass(frozen=True)
class RateLimitCount:
    policy: str  # an sf-string: the throttle's scope, [a-z_]
    quota: int
    window_seconds: int
    used: int
    reset_seconds: float

    def header_fields(self) -> dict[str, str]:
        remaining = max(0, self.quota - self.used)
        reset = max(0, math.ceil(self.reset_seconds))
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.quota};w={self.window_seconds}',
            "RateLimit": f'"{self.policy}";r={remaining};t={reset}',
        }


def rate_limit_record(request: HttpRequest, count: RateLimitCount) -> None:
    setattr(request, _ATTRIBUTE, count)


def rate_limit_headers_add(request: HttpRequest, response: HttpResponse) -> None:
    count: RateLimitCount | None = getattr(request, _ATTRIBUTE, None)
    if count is not None:
        for name, value in count.header_fields().items():
            response[name] = value
