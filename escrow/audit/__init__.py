"""The audit log every feature writes to: events recorded in the caller's transaction, the
Merkle tree, signed checkpoints, proofs and the export format. It imports no feature; the
API that reads it, under policy, is escrow/auditing."""
