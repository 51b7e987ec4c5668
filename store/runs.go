package store

import "time"

// Run is one execution of the governed pipeline (Intent → Skill → Contract
// → Route → Execute → Verify → Store → Promote/Demote), as journaled.
type Run struct {
	ID           string
	ParentRun    string // "" unless spawned by another run
	LeaseID      string // the lease that asked for the run
	RunLease     string // the attenuated child lease the run executes under
	Agent        string
	Goal         string
	Skill        string // "" until chosen
	SkillVersion string
	SkillDigest  string
	Inputs       []byte // JSON object
	Contract     []byte // canonical JSON of the contract; nil until made
	ContractHash []byte // SHA-256 of Contract
	State        string // pending, waiting_approval, running, succeeded, failed, cancelled
	ApprovalID   string // while waiting_approval
	Output       []byte // JSON value; nil until succeeded
	Error        string // why it failed or was cancelled
	Provenance   []byte // the signed provenance record; nil until stored
	// ProvenanceIndex is the ledger index of the run.provenance entry that
	// holds the record; 0 until it is stored.
	ProvenanceIndex uint64
	Depth           int // 0 for a top-level run
	Resumes         int // how many times it was resumed after a kernel restart
	Created         time.Time
	Updated         time.Time
	Ended           time.Time
}

// RunStep is the journaled result of one completed step of a run. Steps are
// numbered in the order the pipeline takes them; a run resumed after a
// crash replays completed steps from here instead of calling again.
type RunStep struct {
	RunID      string
	Seq        int
	Kind       string // select, execute, repair, verify, council, chain, spawn…
	Model      string // the model that answered, if any
	InputHash  []byte // SHA-256 of what the step was given (prompt, inputs)
	Output     []byte // what it produced (JSON or text)
	OK         bool   // the step succeeded (a failed verification is still a completed step)
	Detail     []byte // JSON: errors, verdicts, usage
	CostMicros int64
	Started    time.Time
	Ended      time.Time
}

// RunFilter selects runs, newest first.
type RunFilter struct {
	LeaseIDs  []string // runs asked for by any of these leases; empty: all
	States    []string // empty: all
	ParentRun string
	Limit     int
}

// SkillStat is the decayed verification record of one skill version on one
// model, and the version's promotion state.
type SkillStat struct {
	Skill     string
	Version   string
	Model     string // "" for the version's own row (status and streaks)
	Successes float64
	Failures  float64
	Status    string // canary, stable, demoted (version rows only)
	Streak    int    // consecutive failures (negative: consecutive successes)
	Verified  int64  // verified runs in total
	Updated   time.Time
}
