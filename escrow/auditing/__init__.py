"""The audit trail as a feature: what operators and auditors read (events in their scope,
checkpoints, proofs, exports), each read decided by policy and made once the log has caught
up with every event committed before it (``AuditTrail.catch_up``). The log it reads, and
writes for every other feature, is escrow/audit, which imports no feature."""
