"""Threshold release: custodians' partial decryptions in, the disclosure package out.

The order of events is the guarantee:

1. A custodian fetches the challenge (challenge.py): the points R of exactly the approved
   fields of exactly the approved pseudonyms, and the proof that the approval is in a
   signed checkpoint of the log. Their tool checks that proof before it computes anything.
2. Each partial is verified on arrival (partials.py: DLEQ proof against this request's
   release context, the custodian's own share index, the active epoch) and recorded; a
   bad one is refused with a precise reason and the refusal is logged too.
3. When k valid partials are in, the request moves approved -> releasing and a task
   (commit.py) combines them, opens only the approved fields and builds the package
   (sealing.py) in memory.
4. A release event committing to the package content is written and the task waits
   until a signed checkpoint covers it. Only then is the (sealed) package stored and
   the request marked released. If the log cannot checkpoint, nothing is stored, the
   request stays `releasing` and the attempt is logged as aborted (fail closed);
   recovery.py retries it later.
5. The agency fetches the package once (delivery.py) and it is deleted.

What must hold before a custodian takes part is in preconditions.py; which sealed fields
a release covers, in items.py.

CPython cannot zeroise `bytes`: the combined points, data keys and plaintexts are
immutable objects that live until the garbage collector reuses their memory. These
modules keep them in local variables only, drop every reference as soon as the package
is sealed, and never log or store them unsealed.
"""
