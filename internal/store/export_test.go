package store

// ChainLegacyAudit lets the external tests interrupt and resume the
// chaining of pre-chain audit rows.
var ChainLegacyAudit = (*Store).chainLegacyAudit
var SealAuditAborting = (*Store).sealAudit
