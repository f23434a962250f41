"""The escrow's own packages, lowest layer first: crypto, custodian (the offline tool),
api (the HTTP edge every app shares), log (the audit log), audit (the log's HTTP read
side), vault (escrowed identities). See docs/architecture.md."""
