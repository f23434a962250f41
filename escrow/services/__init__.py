"""Changes to the vault. Callers import from the concept's module, e.g.
`escrow.services.enrolment` or `escrow.services.ceremony`."""
