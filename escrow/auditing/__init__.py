"""The audit trail as a feature: what operators and auditors read (events in their scope,
checkpoints, proofs, exports), each read decided by policy. The log it reads, and writes
for every other feature, is escrow/audit, which imports no feature."""
