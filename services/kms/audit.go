package kms

import (
	"time"

	"github.com/google/uuid"
)

// Outcomes of an audited operation.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// AuditEvent is one recorded operation. It never holds plaintext, keys or
// ciphertexts.
type AuditEvent struct {
	ID        uuid.UUID
	Time      time.Time
	Principal string
	Realm     string
	Method    string
	// ClientID is the OAuth client or API key the principal acted through;
	// empty for Basic users.
	ClientID      string
	TenantID      uuid.UUID
	ElasticKeyID  string
	MaterialKeyID string
	Operation     string
	Outcome       string // OutcomeSuccess or OutcomeFailure
	ErrorCode     string
	RequestID     string
	// Target is the realm user an administration event is about.
	Target string
}
