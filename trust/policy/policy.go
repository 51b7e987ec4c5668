// Package policy is the Cedar policy gate: it decides whether an action an
// agent wants to take is allowed (ALLOW), needs a human (ASK) or is refused
// (BLOCK).
//
// A decision is made in two steps. First the lease's scopes must cover the
// action (ScopesCover); a lease can never be talked into something its token
// does not grant. Then the Cedar policies in force are evaluated: any
// satisfied forbid blocks, else any satisfied permit carrying the @ask
// annotation asks, else any satisfied permit allows, else the default is to
// block. Any error on the way blocks too. docs/POLICIES.md describes the data
// model policies see, the default pack and how to write and test policies.
package policy

import "time"

// Effect is the outcome of a decision.
type Effect string

// The three outcomes, strongest first: BLOCK beats ASK beats ALLOW.
const (
	Allow Effect = "ALLOW"
	Ask   Effect = "ASK"
	Block Effect = "BLOCK"
)

// Pseudo policy ids used in reasons that no Cedar policy produced. They are
// reserved: a policy may not use them as its @id.
const (
	ScopePolicy   = "scope"        // the lease's scopes do not cover the action
	DefaultPolicy = "default"      // nothing permitted the action
	ErrorPolicy   = "policy_error" // deciding failed; fail closed
)

// Reason names a policy that made a decision and says why in a sentence.
type Reason struct {
	Policy string `json:"policy"` // the policy's @id, else "file.cedar:LINE"
	Reason string `json:"reason"` // its @reason, else a short generated sentence
}

// Decision is the result of Engine.Decide. Reasons is never nil, so it
// encodes as [] rather than null.
type Decision struct {
	Effect  Effect   `json:"decision"`
	Reasons []Reason `json:"reasons"`
}

// Principal is who asks: the lease presented with the request.
type Principal struct {
	LeaseID string   `json:"lease_id,omitempty"` // e.g. "lse_abc"
	Name    string   `json:"name,omitempty"`     // agent or person name, e.g. "claude-code"
	Scopes  []string `json:"scopes"`             // capability patterns the lease holds; "*" = everything
	Agent   string   `json:"agent,omitempty"`    // "claude-code", "codex", "gemini", "cursor" or ""
}

// Request is one action to decide.
type Request struct {
	Principal Principal `json:"principal"`
	Action    string    `json:"action"`             // capability: "tool:Bash", "model:chat:ollama/llama3", "memory:write"
	Resource  string    `json:"resource,omitempty"` // a path, a model id, a URL; may be empty
	Context   Context   `json:"context"`
}

// Context is what the kernel knows about the action: the risk classifier's
// verdict, the content scanner's findings, the tool input and the moment.
type Context struct {
	Risk        int            `json:"risk"`                  // 0..4
	Categories  []string       `json:"categories,omitempty"`  // "read", "write", "exec", "network", "spend", "publish", "delete", "credential"
	Signals     []string       `json:"signals,omitempty"`     // "force_push", "network", "package_install", …
	Findings    []string       `json:"findings,omitempty"`    // "secret.aws_access_key", "pii.email", …
	Sensitivity string         `json:"sensitivity,omitempty"` // "public", "personal" or "secret"
	Args        map[string]any `json:"args,omitempty"`        // the tool input
	CostUSD     float64        `json:"cost_usd,omitempty"`    // estimated cost of the action
	Tier        string         `json:"tier,omitempty"`        // for model actions: "local", "cloud" or ""
	Time        time.Time      `json:"time,omitzero"`         // zero means now
	Cwd         string         `json:"cwd,omitempty"`
}
