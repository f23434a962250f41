"""Custodians: the releases waiting for their share, what each covers, and how far each is.

A custodian consents in the offline tool (`escrow-custodian`), never in the browser: the
share file stays on the custodian's machine and the tool checks the request against the
signed log itself. This page only shows status and the exact command to run.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import Role
from console import selectors
from console.access import StaffPage
from escrow.log.keys import log_identity


class CustodianReleasesPage(StaffPage):
    roles = (Role.CUSTODIAN,)

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors.custodian_release_requests(),
                         selectors.CUSTODIAN_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = selectors.custodian_release_rows(disclosures=list(page.object_list),
                                                custodian=request.user)  # type: ignore[arg-type]
        identity = log_identity()
        return render(request, "console/custodian/releases.html", {
            "releases_page": page, "rows": rows,
            "waiting": sum(1 for r in rows if r.can_answer),
            "shares": selectors.custodian_shares_held(custodian=request.user),  # type: ignore[arg-type]
            # The tool's --server: this service, as the custodian's browser reached it.
            "server": request.build_absolute_uri("/").rstrip("/"),
            "log_key": identity.verifier_key,
            # The tool refuses a checkpoint without them unless told --no-witness.
            "witness_keys": [witness.vkey for witness in identity.witnesses],
        })
