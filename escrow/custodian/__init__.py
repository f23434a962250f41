"""escrow-custodian: a key custodian's tool for threshold releases.

Runs on the custodian's own machine with no Django, no database and no trust in the
server beyond what it can check itself:

* the approval of the request is leaf `log_index` of a checkpoint signed by the log
  key the custodian supplies (--log-key), proved with the inclusion proof over the
  leaf bytes the tool hashes itself;
* that checkpoint carries cosignatures from the custodian's quorum of witnesses and
  is consistent with the last checkpoint the tool accepted (`logview`);
* what the custodian is shown (legal basis, fields, pseudonym count, expiry) and the
  records the points belong to match what that logged approval says;
* the share file passes the Feldman check against its own public key, and that key is
  the one the server is releasing under.

Only then does it ask for the share passphrase, compute x_i R with a DLEQ proof for
each point, and upload them. See docs/custodian-tool.md.

Modules: `cli` (arguments, commands, output, exit codes), `service` (the HTTP client),
`challenge` (the checks of a release challenge), `consent` (the summary shown),
`share` (the share file), `prompts` (questions on the terminal), `config` (the keys
trusted), `logview` (witness quorum, the last checkpoint seen) and `witness` (a reference
witness, run by an outside party). They import only
`escrow.crypto` and the standard library (an import-linter contract), so this package
must stay free of Django, Celery and their clients.
"""
