// Package provenance is the signed record of how a run's output came to be:
// which contract it ran under, which skill (by digest) and models produced
// it, hashes of every prompt and of the output, what the verifiers said,
// what it cost and how long it took.
//
// A record is signed by the kernel's key (the key that signs the ledger's
// checkpoints) as a signed note (golang.org/x/mod/sumdb/note) whose text is
//
//	mirroros provenance v1
//	<the record as one line of compact JSON>
//
// and is appended to the ledger as a "run.provenance" entry whose body holds
// the run id, the record and the note. Anyone with the kernel's public key
// (DATA_DIR/ledger.pub) can check the signature, and anyone with a signed
// checkpoint can check the entry's inclusion in the log, without trusting the
// kernel: `mirror provenance RUN` does both.
package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// header is the first line of a provenance note's text.
const header = "mirroros provenance v1\n"

// Record is one run's provenance.
type Record struct {
	Run           string     `json:"run"`
	ParentRun     string     `json:"parent_run,omitempty"`
	Lease         string     `json:"lease"`
	ContractHash  string     `json:"contract_sha256"`
	Skill         Skill      `json:"skill"`
	Models        []string   `json:"models"`
	PromptHashes  []string   `json:"prompt_sha256"`
	OutputHash    string     `json:"output_sha256"`
	Verifiers     []Verifier `json:"verifiers"`
	CostMicros    int64      `json:"cost_micros"`
	Steps         int        `json:"steps"`
	Resumes       int        `json:"resumes,omitempty"`
	Started       time.Time  `json:"started"`
	Ended         time.Time  `json:"ended"`
	StageMillis   []Stage    `json:"stages,omitempty"`
	TrustWarnings []string   `json:"trust_warnings,omitempty"`
}

// Skill identifies the skill a run used.
type Skill struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Digest   string `json:"digest"`
	Signer   string `json:"signer,omitempty"`
	Unsigned bool   `json:"unsigned,omitempty"`
}

// Verifier is one verification's result.
type Verifier struct {
	Kind   string `json:"kind"` // schema, model, council
	Model  string `json:"model,omitempty"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Stage is how long one pipeline stage took.
type Stage struct {
	Name   string `json:"name"`
	Millis int64  `json:"ms"`
}

// Sign encodes r and signs it with the kernel's note signer.
func Sign(r Record, s note.Signer) ([]byte, error) {
	if r.Run == "" || r.ContractHash == "" {
		return nil, errors.New("provenance: a record needs a run id and a contract hash")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: header + string(b) + "\n"}, s)
}

// Open checks a provenance note's signature with the kernel's verifier key
// and returns the record it carries.
func Open(msg []byte, v note.Verifier) (Record, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Record{}, fmt.Errorf("provenance: signature: %w", err)
	}
	body, ok := strings.CutPrefix(n.Text, header)
	if !ok {
		return Record{}, errors.New("provenance: not a MirrorOS provenance note")
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("provenance: record: %w", err)
	}
	return r, nil
}

// Entry is the body of the "run.provenance" ledger entry.
type Entry struct {
	Run    string `json:"run"`
	Record Record `json:"record"`
	Note   string `json:"note"` // the signed note, as text
}
