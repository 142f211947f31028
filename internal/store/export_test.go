package store

// ChainLegacyAudit lets the external tests interrupt and resume the
// chaining of pre-chain audit rows.
var ChainLegacyAudit = (*Store).chainLegacyAudit
var SealAuditAborting = (*Store).sealAudit

// What the store uses only inside itself, reached by its external tests.
var (
	TokenRevoked     = (*Store).tokenRevoked
	PurgeExpired     = (*Store).purgeExpired
	GroupCommitStats = (*Store).groupCommitStats
	WALPeak          = (*Store).walPeak
	WithLargeTx      = (*Store).withLargeTx
)
