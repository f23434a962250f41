"""Changes to the vault. Callers import from the concept's module, e.g.
`escrow.vault.services.enrolment` or `escrow.vault.services.ceremony`."""
