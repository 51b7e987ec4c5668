package memory

// The bodies of the ledger entries the memory plane writes. They carry ids,
// hashes, offsets, times and reasons, never evidence content, claim
// statements or subjects: the ledger cannot be redacted, so anything that
// might have to be erased stays out of it and is bound by its hash instead.

type evidenceBody struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Size       int64  `json:"size"`
	MediaType  string `json:"media_type,omitempty"`
	Text       bool   `json:"text"`
	ObservedAt string `json:"observed_at"`
}

type redactBody struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	At     string `json:"at"`
}

// Claim entry operations.
const (
	opCreate      = "create"
	opCorroborate = "corroborate"
)

type spanBody struct {
	Evidence string `json:"evidence"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
}

type claimBody struct {
	Op          string     `json:"op"` // create or corroborate
	ID          string     `json:"id"`
	Hash        string     `json:"hash,omitempty"` // create: ClaimHash of statement, subject and kind
	Kind        string     `json:"kind,omitempty"`
	Confidence  float64    `json:"confidence"` // the claim's confidence after this entry
	ValidAt     string     `json:"valid_at,omitempty"`
	InvalidAt   string     `json:"invalid_at,omitempty"`
	CreatedAt   string     `json:"created_at,omitempty"`
	Spans       []spanBody `json:"spans"` // the spans this entry attached
	Contradicts []string   `json:"contradicts,omitempty"`
}

type promoteBody struct {
	ID       string `json:"id"`
	Reason   string `json:"reason,omitempty"`
	Auto     bool   `json:"auto"`     // promoted on corroboration
	Evidence int    `json:"evidence"` // independent evidence at promotion
}

type demoteBody struct {
	ID             string `json:"id"`
	Reason         string `json:"reason,omitempty"`
	InvalidAt      string `json:"invalid_at"`
	ExpiredAt      string `json:"expired_at"`
	ContradictedBy string `json:"contradicted_by,omitempty"`
}

type canonBody struct {
	Version int64    `json:"version"`
	Hash    string   `json:"hash"`
	Count   int      `json:"count"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}
