"""What the custodian reads before they consent: only what `challenge_verify` checked."""

from __future__ import annotations

from escrow.custodian.challenge import VerifiedChallenge


def consent_summary(verified: VerifiedChallenge) -> str:
    request = verified.request
    agency = request.get("agency") or {}
    basis = request.get("legal_basis") or {}
    lines = [
        "",
        "You are asked to release identity data:",
        f"  Request:           {request.get('reference')}",
        f"  Agency:            {agency.get('name')} ({agency.get('jurisdiction')})",
        f"  Legal basis:       {basis.get('name')} [{basis.get('code')}]",
        f"  Issued by:         {request.get('issuing_authority')}",
        f"  Fields:            {', '.join(request.get('fields') or [])}",
        f"  Pseudonyms:        {request.get('pseudonym_count')}",
        f"  Authority expires: {request.get('expires_at')}",
        f"  Emergency:         {'YES' if request.get('is_emergency') else 'no'}",
        f"  Escrow key epoch:  {verified.epoch} (you hold share {verified.custodian_index})",
        f"  Points to decrypt: {len(verified.points)}, of "
        f"{len({item['record_id'] for item in verified.items})} record(s) sealed under "
        f"this epoch",
        "",
        f"Checked: the approval is entry {verified.approval_log_index} of the log "
        f"'{verified.checkpoint.origin}', under its signed checkpoint of size "
        f"{verified.checkpoint.size}, and names exactly these fields and pseudonyms.",
        (f"That checkpoint is cosigned by {len(verified.cosigned_by)} of your witnesses: "
         f"{', '.join(verified.cosigned_by)}." if verified.cosigned_by else
         "No witness cosignature was asked for (--no-witness): the checkpoint rests on the "
         "log key alone."),
        "",
    ]
    return "\n".join(lines)
