package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/memory"
	"github.com/spf13/cobra"
)

// The memory plane's commands: a client of /v1/memory/… (api/memory.go).

const evidencePrefix = "sha256:"

var (
	memStatuses      = []string{"candidate", "canon", "demoted"}
	memClaimKinds    = []string{"fact", "preference", "identity", "event", "other"}
	memEvidenceKinds = []string{"text", "file", "turn", "run_output"}
)

const memTimeHelp = "RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02, UTC midnight)"

// parseMemoryTime reads a time flag: RFC 3339, or a plain date taken as
// UTC midnight. It returns the time as the API wants it (RFC 3339 in UTC),
// or "" for an empty value.
func parseMemoryTime(flag, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("%s %q: want %s", flag, v, memTimeHelp)
}

// spanArg is one --evidence ID[:START-END] of 'mirror memory claim'.
type spanArg struct {
	ID         string // sha256:<hex>, lower case; maybe a prefix of an id
	Start, End int
	Whole      bool // no range given: the whole evidence
}

// full reports whether the id is a whole evidence id, not a prefix.
func (s spanArg) full() bool { return len(s.ID) == len(evidencePrefix)+64 }

var (
	spanRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)$`)
	hexDigits = regexp.MustCompile(`^[0-9a-f]+$`)
)

// parseEvidenceID checks an evidence id as a person may type or paste it:
// "sha256:" and 4 to 64 hex digits (a shortened id, as the listings print
// it, with or without its trailing "…"), or the 64 hex digits alone.
func parseEvidenceID(s string) (string, error) {
	id := strings.TrimSpace(s)
	id = strings.TrimSuffix(strings.TrimSuffix(id, "…"), "...")
	hex, ok := strings.CutPrefix(strings.ToLower(id), evidencePrefix)
	if !ok && len(id) == 64 {
		hex, ok = strings.ToLower(id), true
	}
	if !ok || len(hex) < 4 || len(hex) > 64 || !hexDigits.MatchString(hex) {
		return "", fmt.Errorf("%q is not an evidence id: want sha256: and its hex digits (at least 4 of the 64)", s)
	}
	return evidencePrefix + hex, nil
}

// parseSpan reads ID[:START-END]: evidence, and optionally the byte range
// [START, END) of its content that the claim rests on.
func parseSpan(s string) (spanArg, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return spanArg{}, errors.New("--evidence is empty: want ID or ID:START-END")
	}
	sp := spanArg{Whole: true}
	idPart := s
	if i := strings.LastIndex(s, ":"); i > 0 && strings.Contains(s[i+1:], "-") {
		// Hex digits never hold a '-': this is meant as a range.
		m := spanRange.FindStringSubmatch(s[i+1:])
		if m == nil {
			return spanArg{}, fmt.Errorf("--evidence %q: the range must be START-END, two byte offsets such as 0-120", s)
		}
		start, err1 := strconv.Atoi(m[1])
		end, err2 := strconv.Atoi(m[2])
		if err1 != nil || err2 != nil {
			return spanArg{}, fmt.Errorf("--evidence %q: offset out of range", s)
		}
		if start >= end {
			return spanArg{}, fmt.Errorf("--evidence %q: START must be less than END (the span is the bytes [START, END))", s)
		}
		sp.Start, sp.End, sp.Whole = start, end, false
		idPart = s[:i]
	}
	id, err := parseEvidenceID(idPart)
	if err != nil {
		return spanArg{}, fmt.Errorf("--evidence: %w", err)
	}
	sp.ID = id
	return sp, nil
}

// parseCanonRange reads the argument of 'canon --diff': FROM..TO, FROM..,
// ..TO or N (the change that made version N). Zero means "the default".
func parseCanonRange(s string) (from, to uint64, err error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("--diff %q: want FROM..TO (e.g. 3..5), FROM.., ..TO or one version N", s)
	num := func(v string) (uint64, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return 0, bad
		}
		return n, nil
	}
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "..")
	if !isRange {
		n, err := num(s)
		if err != nil || n == 0 {
			return 0, 0, bad
		}
		return n - 1, n, nil
	}
	if from, err = num(a); err != nil {
		return 0, 0, err
	}
	if to, err = num(b); err != nil {
		return 0, 0, err
	}
	if b != "" && to == 0 {
		return 0, 0, fmt.Errorf("--diff %q: canon versions are numbered from 1", s)
	}
	if b != "" && from > to {
		return 0, 0, fmt.Errorf("--diff %q: FROM is after TO", s)
	}
	return from, to, nil
}

// checkOneOf validates a flag's values against the allowed ones.
func checkOneOf(flag string, vals, allowed []string) error {
	for _, v := range vals {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("%s %q is not one of %s", flag, v, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// memShort shortens an evidence id to sha256:<12 hex>…; claim ids are short
// already.
func memShort(id string) string {
	if strings.HasPrefix(id, evidencePrefix) && len(id) > len(evidencePrefix)+12 {
		return id[:len(evidencePrefix)+12] + "…"
	}
	return id
}

func memShortList(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = memShort(id)
	}
	return strings.Join(s, ", ")
}

// memTime prints a time to the second in UTC, in a form the time flags
// accept back.
func memTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func memTimeString(s string) string {
	if s == "" {
		return "-"
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return memTime(t)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// memExplain adds what to do to the kernel's errors the memory commands
// can run into.
func memExplain(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Status == http.StatusRequestEntityTooLarge && ae.Code != "too_large",
		strings.Contains(ae.Message, "request body too large"):
		return fmt.Errorf("%w\nthe kernel takes request bodies up to server.max_body_bytes (default 1 MiB; binary content grows by a third in base64): raise it in DATA_DIR/config.toml and restart the kernel", err)
	}
	return err
}

func memGet(ctx context.Context, c *client, path string) ([]byte, error) {
	raw, _, err := c.get(ctx, path)
	return raw, memExplain(err)
}

func memPost(ctx context.Context, c *client, path string, in any) ([]byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	raw, _, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(b))
	return raw, memExplain(err)
}

// printRaw prints the API's JSON answer, indented.
func printRaw(w io.Writer, raw []byte) {
	var b bytes.Buffer
	if json.Indent(&b, bytes.TrimSpace(raw), "", "  ") != nil {
		w.Write(raw)
		return
	}
	fmt.Fprintln(w, b.String())
}

// decodeOrPrint prints the kernel's answer as indented JSON when asJSON is
// set (printed), and otherwise decodes it into v.
func decodeOrPrint(w io.Writer, raw []byte, asJSON bool, v any) (printed bool, err error) {
	if asJSON {
		printRaw(w, raw)
		return true, nil
	}
	return false, decodeInto(raw, v)
}

func decodeInto(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("unexpected answer from the kernel: %v", err)
	}
	return nil
}

// resolveEvidence turns a shortened evidence id into the one stored id it
// starts, listing the evidence to find it.
func resolveEvidence(ctx context.Context, c *client, id string) (string, error) {
	if len(id) == len(evidencePrefix)+64 {
		return id, nil
	}
	var matches []string
	var after int64
	for {
		var page struct {
			Evidence []memory.Evidence `json:"evidence"`
		}
		raw, err := memGet(ctx, c, fmt.Sprintf("/v1/memory/evidence?limit=1000&after=%d", after))
		if err != nil {
			return "", err
		}
		if err := decodeInto(raw, &page); err != nil {
			return "", err
		}
		for _, e := range page.Evidence {
			if strings.HasPrefix(e.ID, id) {
				matches = append(matches, e.ID)
			}
			after = e.Seq
		}
		if len(page.Evidence) < 1000 {
			break
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no evidence id starts with %s", id)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("%s is ambiguous: %d pieces of evidence start with it; give more of its digits", id, len(matches))
}

func newMemoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "Add evidence and claims, search them, read the canon, verify memory",
		Long: `The memory plane is what the kernel knows about the person or team it serves,
kept so that it can be trusted, corrected and audited.

  evidence  raw material: a note, a file, a conversation turn, a run's output.
            It is content-addressed (its id is sha256: and the hash of its
            bytes) and immutable: adding the same bytes again stores nothing.
            Redaction erases the content; the id, the metadata and the claims
            citing it stay.
  claims    atomic statements resting on evidence. Each cites spans (byte
            ranges) of evidence and has a kind (fact, preference, identity,
            event, other), a confidence in (0, 1] and a status: candidate,
            canon or demoted. Adding a statement that is already believed
            (same words, ignoring case, spacing and final punctuation)
            corroborates that claim instead of duplicating it.
  canon     the promoted claims: what the kernel hands to models. A claim is
            promoted once N independent pieces of evidence support it
            ([memory] corroboration in config.toml, default 2), or by hand
            with 'mirror memory promote'. Demotion invalidates and never
            deletes. Every change compiles a numbered canon version with a
            hash over its members' ids and exact text.

Two clocks. A claim is TRUE in the world from valid_at until invalid_at, and
BELIEVED by the kernel from created_at until expired_at (its demotion).
  --valid-at T   what held in the world at T
  --as-of T      what the kernel believed at T
Together: "what did we believe on March 1 about January 1". Times are
` + memTimeHelp + `.

Every write is a ledger entry made in the same transaction, so 'mirror memory
verify' can replay the ledger and name any row changed behind the kernel's
back. The commands talk to a running kernel ('mirror up') under your lease:
reads need memory:read, writes memory:write. See docs/MEMORY.md.`,
		Example: `  mirror memory add notes/2026-01-02.md
  mirror memory claim "Alice prefers dark mode" --evidence sha256:3f1c…:0-52 --kind preference --subject Alice
  mirror memory search "dark mode"
  mirror memory canon
  mirror memory history clm_0123456789abcdef
  mirror memory verify`,
	}
	cmd.AddCommand(newMemoryAddCmd(g), newMemoryClaimCmd(g), newMemorySearchCmd(g), newMemoryClaimsCmd(g), newMemoryEvidenceCmd(g),
		newMemoryCanonCmd(g), newMemoryPromoteCmd(g), newMemoryDemoteCmd(g), newMemoryHistoryCmd(g), newMemoryShowCmd(g),
		newMemoryRedactCmd(g), newMemoryVerifyCmd(g), newMemoryExportCmd(g))
	return cmd
}

// addEvidenceAnswer is the answer of POST /v1/memory/evidence.
type addEvidenceAnswer struct {
	ID              string                `json:"id"`
	Created         bool                  `json:"created"`
	Evidence        memory.Evidence       `json:"evidence"`
	ExtractionRun   string                `json:"extraction_run"`
	Extraction      *memory.ExtractResult `json:"extraction"`
	ExtractionError string                `json:"extraction_error"`
}

func newMemoryAddCmd(g *globals) *cobra.Command {
	var (
		kind, source, mediaType, observed string
		extract, asJSON, idOnly           bool
	)
	cmd := &cobra.Command{
		Use:   "add FILE|- [--kind K] [--source S] [--media-type T] [--observed-at T] [--extract]",
		Short: "Store a file (or standard input) as evidence",
		Long: `Store the contents of FILE (or of standard input, for -) as a piece of
evidence. Its id is sha256: and the SHA-256 of the bytes, so adding the same
bytes again changes nothing and says so.

Valid UTF-8 is stored as text (kind text, searchable); anything else as
bytes (kind file). --kind says what it is: text, file, turn (a turn of a
conversation) or run_output. --source says where it came from (default: the
file's absolute path). --observed-at is when it was seen (default: now);
claims resting on it are true from then unless they say otherwise. Times are
` + memTimeHelp + `.

Evidence alone asserts nothing: claims do ('mirror memory claim'). With
--extract the kernel also runs the extract-claims skill on it (a governed,
audited run under your lease) and adds the claims it finds, each citing the
span it came from; the command then prints the run and the claims added,
adjusted (a span clamped, a confidence bounded…) and dropped.

Evidence is at most 8 MiB; the kernel takes request bodies up to
server.max_body_bytes (default 1 MiB).`,
		Example: `  mirror memory add notes/standup-2026-01-02.md
  mirror memory add transcript.txt --kind turn --source "call with Bob" --observed-at 2026-01-02T15:00:00Z
  pbpaste | mirror memory add - --source clipboard
  mirror memory add diagram.png --media-type image/png
  mirror memory add journal.md --extract
  ID=$(mirror memory add notes.md --id-only)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			obs, err := parseMemoryTime("--observed-at", observed)
			if err != nil {
				return err
			}
			if kind != "" {
				if err := checkOneOf("--kind", []string{kind}, memEvidenceKinds); err != nil {
					return err
				}
			}
			path := args[0]
			var content []byte
			if path == "-" {
				content, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), memory.MaxEvidenceSize+1))
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				path = "standard input"
			} else {
				fi, err := os.Stat(path)
				if err != nil {
					return err
				}
				if fi.IsDir() {
					return fmt.Errorf("%s is a directory: add its files one by one", path)
				}
				if fi.Size() > memory.MaxEvidenceSize {
					return fmt.Errorf("%s is %d bytes; evidence is at most %d (8 MiB)", path, fi.Size(), memory.MaxEvidenceSize)
				}
				if content, err = os.ReadFile(path); err != nil {
					return err
				}
				if !cmd.Flags().Changed("source") {
					if abs, err := filepath.Abs(path); err == nil {
						source = abs
					}
				}
			}
			if len(content) == 0 {
				return fmt.Errorf("%s is empty: evidence needs content", path)
			}
			if len(content) > memory.MaxEvidenceSize {
				return fmt.Errorf("%s is over %d bytes (8 MiB), the most one piece of evidence holds", path, memory.MaxEvidenceSize)
			}
			req := map[string]any{}
			isText := utf8.Valid(content)
			if isText {
				req["content"] = string(content)
			} else {
				req["content_base64"] = base64.StdEncoding.EncodeToString(content)
			}
			switch {
			case kind == "" && isText:
				kind = "text"
			case kind == "":
				kind = "file"
			case kind != "file" && !isText:
				return fmt.Errorf("%s is not UTF-8 text, so it cannot be stored as --kind %s: leave --kind out (it is stored as a file)", path, kind)
			}
			req["kind"] = kind
			if source != "" {
				req["source"] = source
			}
			if mediaType != "" {
				req["media_type"] = mediaType
			}
			if obs != "" {
				req["observed_at"] = obs
			}
			if extract {
				req["extract"] = true
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			if extract {
				c.http.Timeout = 15 * time.Minute // a skill run
			}
			raw, err := memPost(cmd.Context(), c, "/v1/memory/evidence", req)
			if err != nil {
				return err
			}
			var a addEvidenceAnswer
			if err := decodeInto(raw, &a); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				printRaw(w, raw)
			case idOnly:
				fmt.Fprintln(w, a.ID)
			default:
				printAddedEvidence(w, a)
			}
			if a.ExtractionError != "" {
				run := ""
				if a.ExtractionRun != "" {
					run = " (run " + a.ExtractionRun + ")"
				}
				return &exitError{1, fmt.Errorf("the evidence is stored, but extracting claims failed%s: %s", run, a.ExtractionError)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "text, file, turn or run_output (default: text for UTF-8, else file)")
	cmd.Flags().StringVar(&source, "source", "", "where it came from: a path, a URL, a person (default: the file's absolute path)")
	cmd.Flags().StringVar(&mediaType, "media-type", "", "its media type, e.g. text/markdown or image/png")
	cmd.Flags().StringVar(&observed, "observed-at", "", "when it was observed: "+memTimeHelp+" (default now)")
	cmd.Flags().BoolVar(&extract, "extract", false, "also extract claims from it with the extract-claims skill")
	cmd.Flags().BoolVar(&idOnly, "id-only", false, "print only the evidence id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func printAddedEvidence(w io.Writer, a addEvidenceAnswer) {
	e := a.Evidence
	what := fmt.Sprintf("%s, %d bytes", e.Kind, e.Size)
	if !e.Text {
		what += ", not searchable text"
	}
	if a.Created {
		fmt.Fprintf(w, "new evidence %s (%s)\n", a.ID, what)
	} else {
		fmt.Fprintf(w, "evidence %s was already stored (%s, added %s by %s); nothing changed\n", a.ID, what, memTime(e.CreatedAt), e.Actor)
	}
	x := a.Extraction
	if x == nil {
		if a.ExtractionRun != "" {
			fmt.Fprintf(w, "extraction run %s\n", a.ExtractionRun)
		}
		return
	}
	created, corroborated, promoted := 0, 0, 0
	for _, r := range x.Claims {
		if r.Created {
			created++
		} else {
			corroborated++
		}
		if r.Promoted {
			promoted++
		}
	}
	fmt.Fprintf(w, "extraction run %s: %s added (%d new, %d corroborating claims already believed, %d promoted), %d adjusted, %d dropped\n",
		dash(a.ExtractionRun), plural(len(x.Claims), "claim", "claims"), created, corroborated, promoted, len(x.Adjusted), len(x.Dropped))
	for _, r := range x.Claims {
		note := "new"
		if !r.Created {
			note = "corroborated"
		}
		if r.Promoted {
			note += ", promoted"
		}
		fmt.Fprintf(w, "  + %s [%s, %s] %s\n", r.Claim.ID, r.Claim.Status, note, oneLine(r.Claim.Statement, 100))
	}
	for _, n := range x.Adjusted {
		fmt.Fprintf(w, "  ~ #%d adjusted: %s (%s)\n", n.Index, oneLine(n.Statement, 80), n.Reason)
	}
	for _, n := range x.Dropped {
		fmt.Fprintf(w, "  - #%d dropped: %s (%s)\n", n.Index, oneLine(n.Statement, 80), n.Reason)
	}
}

// evidenceAnswer is the answer of GET /v1/memory/evidence/{id}.
type evidenceAnswer struct {
	Evidence      memory.Evidence `json:"evidence"`
	Content       *string         `json:"content"`
	ContentBase64 string          `json:"content_base64"`
}

func getEvidence(ctx context.Context, c *client, id string) (evidenceAnswer, []byte, error) {
	var a evidenceAnswer
	raw, err := memGet(ctx, c, "/v1/memory/evidence/"+url.PathEscape(id))
	if err != nil {
		return a, nil, err
	}
	return a, raw, decodeInto(raw, &a)
}

func newMemoryClaimCmd(g *globals) *cobra.Command {
	var (
		evidence, contradicts             []string
		subject, kind, validAt, invalidAt string
		confidence                        float64
		asJSON, idOnly                    bool
	)
	cmd := &cobra.Command{
		Use:   `claim "STATEMENT" --evidence ID[:START-END]… [--subject S] [--kind K] [--confidence C] [--valid-at T] [--contradicts CLAIM]…`,
		Short: "Add a claim resting on evidence",
		Long: `Add an atomic statement resting on evidence. Each --evidence names a piece of
evidence, by its id or an unambiguous prefix of it (sha256:3f1c9a…), and
optionally the byte range START-END of its content the statement rests on
(the bytes [START, END)); without a range the claim cites the whole
evidence. Cite several pieces of evidence with several --evidence flags.

A new claim is a candidate. If a live claim already makes the same statement
(ignoring case, spacing and final punctuation), nothing is duplicated: the
new evidence corroborates that claim, and once it rests on N distinct pieces
of evidence ([memory] corroboration, default 2) it is promoted into the
canon. The same evidence cited twice counts once.

--kind is fact (default), preference, identity (compiled into every model
call's identity preamble once canon), event or other. --confidence is in
(0, 1] (default 1). --valid-at is when the statement became true in the
world (default: when its earliest evidence was observed); --invalid-at when
it stopped, if already known. --contradicts CLAIM demotes a live claim this
one contradicts: it stops being believed now and stops being true at this
claim's valid-at; it is kept, with its history, never deleted. Times are
` + memTimeHelp + `.

Prints the claim id, its status, whether it corroborated a claim or was
promoted, the claims it demoted and the canon version the change compiled.`,
		Example: `  mirror memory claim "Alice prefers dark mode" --evidence sha256:3f1c9a2b7d10 --kind preference --subject Alice
  mirror memory claim "The team ships on Thursdays" --evidence sha256:3f1c9a2b7d10:120-164 --evidence sha256:9be0…:0-40
  mirror memory claim "Alice lives in Lyon" --evidence sha256:77aa…:0-80 --valid-at 2026-03-01 --contradicts clm_0123456789abcdef
  CLAIM=$(mirror memory claim "Bob is the on-call lead" --evidence sha256:5d2e… --id-only)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			statement := strings.TrimSpace(strings.Join(args, " "))
			if statement == "" {
				return errors.New("the statement is empty")
			}
			if len(evidence) == 0 {
				return errors.New("a claim rests on evidence: give at least one --evidence ID[:START-END] ('mirror memory add FILE' stores evidence and prints its id)")
			}
			spans := make([]spanArg, len(evidence))
			for i, e := range evidence {
				sp, err := parseSpan(e)
				if err != nil {
					return err
				}
				spans[i] = sp
			}
			if kind != "" {
				if err := checkOneOf("--kind", []string{kind}, memClaimKinds); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("confidence") && !(confidence > 0 && confidence <= 1) {
				return fmt.Errorf("--confidence %v: want a number in (0, 1], such as 0.8", confidence)
			}
			va, err := parseMemoryTime("--valid-at", validAt)
			if err != nil {
				return err
			}
			ia, err := parseMemoryTime("--invalid-at", invalidAt)
			if err != nil {
				return err
			}
			for _, id := range contradicts {
				if strings.TrimSpace(id) == "" {
					return errors.New("--contradicts needs a claim id")
				}
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			req := map[string]any{"statement": statement}
			var cited []memory.Span
			for _, sp := range spans {
				id, err := resolveEvidence(ctx, c, sp.ID)
				if err != nil {
					return fmt.Errorf("--evidence %s: %w", sp.ID, err)
				}
				if sp.Whole {
					ev, _, err := getEvidence(ctx, c, id)
					if err != nil {
						return fmt.Errorf("--evidence %s: %w", id, err)
					}
					if ev.Evidence.Redacted() {
						return fmt.Errorf("--evidence %s was redacted; it cannot be cited", id)
					}
					sp.Start, sp.End = 0, int(ev.Evidence.Size)
				}
				cited = append(cited, memory.Span{EvidenceID: id, Start: sp.Start, End: sp.End})
			}
			req["evidence"] = cited
			if subject != "" {
				req["subject"] = subject
			}
			if kind != "" {
				req["kind"] = kind
			}
			if cmd.Flags().Changed("confidence") {
				req["confidence"] = confidence
			}
			if va != "" {
				req["valid_at"] = va
			}
			if ia != "" {
				req["invalid_at"] = ia
			}
			if len(contradicts) > 0 {
				req["contradicts"] = contradicts
			}
			raw, err := memPost(ctx, c, "/v1/memory/claims", req)
			if err != nil {
				return err
			}
			var res memory.AddResult
			if err := decodeInto(raw, &res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				printRaw(w, raw)
			case idOnly:
				fmt.Fprintln(w, res.Claim.ID)
			default:
				printAddResult(w, res)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&evidence, "evidence", "e", nil, "evidence the claim rests on: ID or ID:START-END (byte offsets); repeat")
	cmd.Flags().StringVar(&subject, "subject", "", "whom or what the statement is about")
	cmd.Flags().StringVar(&kind, "kind", "", "fact (default), preference, identity, event or other")
	cmd.Flags().Float64Var(&confidence, "confidence", 0, "confidence in (0, 1] (default 1)")
	cmd.Flags().StringVar(&validAt, "valid-at", "", "when it became true: "+memTimeHelp+" (default: when its evidence was observed)")
	cmd.Flags().StringVar(&invalidAt, "invalid-at", "", "when it stopped being true, if known")
	cmd.Flags().StringArrayVar(&contradicts, "contradicts", nil, "a live claim this one contradicts, to demote; repeat")
	cmd.Flags().BoolVar(&idOnly, "id-only", false, "print only the claim id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func printAddResult(w io.Writer, r memory.AddResult) {
	cl := r.Claim
	n := len(cl.EvidenceIDs())
	switch {
	case r.Created:
		fmt.Fprintf(w, "new claim %s, status %s, resting on %s\n", cl.ID, cl.Status, plural(n, "piece of evidence", "pieces of evidence"))
	case r.Corroborated:
		fmt.Fprintf(w, "corroborated claim %s (the same statement was already believed), status %s, now resting on %s\n",
			cl.ID, cl.Status, plural(n, "piece of evidence", "pieces of evidence"))
	default:
		fmt.Fprintf(w, "claim %s already makes this statement on this evidence (status %s, resting on %s): nothing added\n",
			cl.ID, cl.Status, plural(n, "piece of evidence", "pieces of evidence"))
	}
	if r.Promoted {
		fmt.Fprintf(w, "promoted into the canon\n")
	}
	for _, id := range r.Demoted {
		fmt.Fprintf(w, "demoted %s (contradicted by %s)\n", id, cl.ID)
	}
	if r.CanonVersion != 0 {
		fmt.Fprintf(w, "canon version %d\n", r.CanonVersion)
	} else {
		fmt.Fprintln(w, "canon unchanged")
	}
}

func newMemorySearchCmd(g *globals) *cobra.Command {
	var (
		asOf, validAt, subject string
		statuses, kinds        []string
		limit                  int
		withEvidence, asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "search QUERY [--as-of T] [--valid-at T] [--status S,…] [--kind K,…] [--limit N] [--evidence-text]",
		Short: "Search claims (and evidence text), best match first",
		Long: `Search memory for QUERY, in plain words: any word may match, and claims are
ranked by BM25 over English-stemmed words (fused with embedding similarity
when [memory] embed_model is set: "hybrid"). No query syntax can fail.
An empty QUERY lists the newest claims that pass the filters.

By default only live claims are searched (candidate and canon). --status
picks statuses (candidate, canon, demoted); --kind claim kinds (fact,
preference, identity, event, other).

The two clocks:
  --as-of T     what the kernel believed at T (any status, unless --status)
  --valid-at T  what held in the world at T
Both together: "what did we believe at T1 about T2". Times are
` + memTimeHelp + `.

--evidence-text also searches the text of stored evidence and shows
matching snippets. Each result shows its type, id (evidence ids shortened;
any unambiguous prefix works as an id), status, score, text and the evidence
it cites.`,
		Example: `  mirror memory search "dark mode"
  mirror memory search "where does Alice live" --valid-at 2025-06-01
  mirror memory search "on-call" --as-of 2026-01-15 --valid-at 2026-01-01
  mirror memory search deadline --status canon --kind event --limit 5
  mirror memory search "quarterly plan" --evidence-text`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.TrimSpace(strings.Join(args, " "))
			q := url.Values{"q": {text}}
			if err := addClaimFilters(q, asOf, validAt, subject, statuses, kinds); err != nil {
				return err
			}
			if limit < 1 || limit > memory.MaxSearchLimit {
				return fmt.Errorf("--limit %d: want 1 to %d", limit, memory.MaxSearchLimit)
			}
			q.Set("limit", strconv.Itoa(limit))
			if withEvidence {
				q.Set("evidence_text", "true")
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			raw, err := memGet(cmd.Context(), c, "/v1/memory/search?"+q.Encode())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var res struct {
				Results []api.SearchHit `json:"results"`
				Hybrid  bool            `json:"hybrid"`
			}
			if printed, err := decodeOrPrint(w, raw, asJSON, &res); printed || err != nil {
				return err
			}
			printSearch(w, text, res.Results, res.Hybrid)
			return nil
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "what the kernel believed at this time (system time)")
	cmd.Flags().StringVar(&validAt, "valid-at", "", "what held in the world at this time (world time)")
	cmd.Flags().StringVar(&subject, "subject", "", "only claims about this subject")
	cmd.Flags().StringSliceVar(&statuses, "status", nil, "candidate, canon, demoted; comma-separated (default: candidate,canon)")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "fact, preference, identity, event, other; comma-separated")
	cmd.Flags().IntVarP(&limit, "limit", "n", memory.DefaultSearchLimit, fmt.Sprintf("most results (at most %d)", memory.MaxSearchLimit))
	cmd.Flags().BoolVar(&withEvidence, "evidence-text", false, "also search the text of stored evidence")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

// addClaimFilters validates and sets the filters claims and search share.
func addClaimFilters(q url.Values, asOf, validAt, subject string, statuses, kinds []string) error {
	if err := checkOneOf("--status", statuses, memStatuses); err != nil {
		return err
	}
	if err := checkOneOf("--kind", kinds, memClaimKinds); err != nil {
		return err
	}
	if len(statuses) > 0 {
		q.Set("status", strings.Join(statuses, ","))
	}
	if len(kinds) > 0 {
		q.Set("kind", strings.Join(kinds, ","))
	}
	if subject != "" {
		q.Set("subject", subject)
	}
	for _, f := range []struct{ flag, param, v string }{{"--as-of", "as_of", asOf}, {"--valid-at", "valid_at", validAt}} {
		t, err := parseMemoryTime(f.flag, f.v)
		if err != nil {
			return err
		}
		if t != "" {
			q.Set(f.param, t)
		}
	}
	return nil
}

func printSearch(w io.Writer, query string, hits []api.SearchHit, hybrid bool) {
	how := "BM25"
	if hybrid {
		how = "hybrid: BM25 and embeddings"
	}
	switch {
	case len(hits) == 0 && query == "":
		fmt.Fprintln(w, "no claims match the filters")
		return
	case len(hits) == 0:
		fmt.Fprintf(w, "nothing found for %q\n", query)
		return
	case query == "":
		fmt.Fprintf(w, "%s, newest first:\n", plural(len(hits), "claim", "claims"))
	default:
		fmt.Fprintf(w, "%s for %q (%s):\n", plural(len(hits), "result", "results"), query, how)
	}
	for i, h := range hits {
		var tags []string
		if h.Status != "" {
			tags = append(tags, h.Status)
		}
		if h.Kind != "" {
			tags = append(tags, h.Kind)
		}
		tags = append(tags, "score "+strconv.FormatFloat(h.Score, 'g', 4, 64))
		fmt.Fprintf(w, "%d. %s %s [%s]\n", i+1, h.Type, memShort(h.ID), strings.Join(tags, ", "))
		fmt.Fprintf(w, "   %s\n", oneLine(h.Text, 300))
		if h.Type == "claim" {
			valid := "true from " + memTimeString(h.ValidAt)
			if h.InvalidAt != "" {
				valid += " until " + memTimeString(h.InvalidAt)
			}
			fmt.Fprintf(w, "   %s; evidence: %s\n", valid, memShortList(h.Evidence))
		}
	}
}

func newMemoryClaimsCmd(g *globals) *cobra.Command {
	var (
		asOf, validAt, subject, evidence string
		statuses, kinds                  []string
		limit                            int
		after                            int64
		asJSON                           bool
	)
	cmd := &cobra.Command{
		Use:   "claims [--status S,…] [--kind K,…] [--as-of T] [--valid-at T] [--limit N]",
		Short: "List claims in the order they were added",
		Long: `List claims in the order they were added, as a table: id, status, kind,
confidence, when they were true (valid_at, invalid_at), how many pieces of
evidence they rest on, and the statement. Every status is listed unless
--status picks some (candidate, canon, demoted).

  --as-of T     the claims the kernel believed at T (system time)
  --valid-at T  the claims that held in the world at T (world time)
Times are ` + memTimeHelp + `.

--evidence ID lists the claims citing a piece of evidence. At most --limit
claims are listed (default 100, at most 1000); the next page starts with
--after and the last SEQ shown.`,
		Example: `  mirror memory claims
  mirror memory claims --status candidate --kind preference
  mirror memory claims --as-of 2026-01-15
  mirror memory claims --valid-at 2025-12-31 --subject Alice
  mirror memory claims --evidence sha256:3f1c9a2b7d10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if err := addClaimFilters(q, asOf, validAt, subject, statuses, kinds); err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("--limit %d: want 1 to 1000", limit)
			}
			if after < 0 {
				return fmt.Errorf("--after %d: want a claim's SEQ", after)
			}
			q.Set("limit", strconv.Itoa(limit))
			if after > 0 {
				q.Set("after", strconv.FormatInt(after, 10))
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if evidence != "" {
				id, err := parseEvidenceID(evidence)
				if err != nil {
					return fmt.Errorf("--evidence: %w", err)
				}
				if id, err = resolveEvidence(ctx, c, id); err != nil {
					return fmt.Errorf("--evidence: %w", err)
				}
				q.Set("evidence", id)
			}
			raw, err := memGet(ctx, c, "/v1/memory/claims?"+q.Encode())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var resp struct {
				Claims []memory.Claim `json:"claims"`
			}
			if printed, err := decodeOrPrint(w, raw, asJSON, &resp); printed || err != nil {
				return err
			}
			if len(resp.Claims) == 0 {
				fmt.Fprintln(w, "no claims")
				return nil
			}
			printClaimTable(w, resp.Claims)
			if len(resp.Claims) == limit {
				fmt.Fprintf(w, "(showing %d; next page: --after %d)\n", limit, resp.Claims[len(resp.Claims)-1].Seq)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "the claims believed at this time (system time)")
	cmd.Flags().StringVar(&validAt, "valid-at", "", "the claims true at this time (world time)")
	cmd.Flags().StringVar(&subject, "subject", "", "only claims about this subject")
	cmd.Flags().StringVar(&evidence, "evidence", "", "only claims citing this evidence")
	cmd.Flags().StringSliceVar(&statuses, "status", nil, "candidate, canon, demoted; comma-separated (default: all)")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "fact, preference, identity, event, other; comma-separated")
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "most claims (at most 1000)")
	cmd.Flags().Int64Var(&after, "after", 0, "list claims added after this SEQ (paging)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func printClaimTable(w io.Writer, cs []memory.Claim) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tID\tSTATUS\tKIND\tCONF\tVALID_AT\tINVALID_AT\tEVIDENCE\tSTATEMENT")
	for _, c := range cs {
		st := oneLine(c.Statement, 80)
		if c.Subject != "" {
			st = "[" + oneLine(c.Subject, 30) + "] " + st
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.2f\t%s\t%s\t%d\t%s\n", c.Seq, c.ID, c.Status, c.Kind, c.Confidence,
			memTime(c.ValidAt), memTime(c.InvalidAt), len(c.EvidenceIDs()), st)
	}
	tw.Flush()
}

func newMemoryEvidenceCmd(g *globals) *cobra.Command {
	var (
		limit  int
		after  int64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "evidence [--limit N] [--after SEQ]",
		Short: "List stored evidence in the order it was added",
		Long: `List stored evidence, without its content, in the order it was added: seq,
id, kind, size, whether it is searchable text, when it was observed, its
source, and REDACTED for evidence whose content was erased. 'mirror memory
show ID' prints one piece with its content.`,
		Example: `  mirror memory evidence
  mirror memory evidence --after 100 --limit 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("--limit %d: want 1 to 1000", limit)
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			raw, err := memGet(cmd.Context(), c, fmt.Sprintf("/v1/memory/evidence?limit=%d&after=%d", limit, max(after, 0)))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var resp struct {
				Evidence []memory.Evidence `json:"evidence"`
			}
			if printed, err := decodeOrPrint(w, raw, asJSON, &resp); printed || err != nil {
				return err
			}
			if len(resp.Evidence) == 0 {
				fmt.Fprintln(w, "no evidence")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tID\tKIND\tSIZE\tTEXT\tOBSERVED\tSOURCE")
			for _, e := range resp.Evidence {
				src := oneLine(e.Source, 60)
				if e.Redacted() {
					src = "REDACTED " + src
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%t\t%s\t%s\n", e.Seq, e.ID, e.Kind, e.Size, e.Text, memTime(e.ObservedAt), dash(src))
			}
			tw.Flush()
			if len(resp.Evidence) == limit {
				fmt.Fprintf(w, "(showing %d; next page: --after %d)\n", limit, resp.Evidence[len(resp.Evidence)-1].Seq)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "most pieces of evidence (at most 1000)")
	cmd.Flags().Int64Var(&after, "after", 0, "list evidence added after this SEQ (paging)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

// canonAnswer is the answer of GET /v1/memory/canon.
type canonAnswer struct {
	Version     int64                `json:"version"`
	Hash        string               `json:"hash"`
	CreatedAt   string               `json:"created_at"`
	LedgerIndex uint64               `json:"ledger_index"`
	Claims      []api.CanonClaimView `json:"claims"`
}

// diffDefault is the value of a bare --diff: the previous and the latest
// version.
const diffDefault = "latest"

func newMemoryCanonCmd(g *globals) *cobra.Command {
	var (
		version          uint64
		diff             string
		versions, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "canon [--version N] [--diff [FROM..TO]] [--versions]",
		Short: "Show the canon: the promoted claims handed to models",
		Long: `Show the canon, the claims the kernel holds as established and hands to
models (identity claims in every call's identity preamble; the relevant
others, with citations, in calls that opt into memory). It prints the canon
version, its hash and each member: id, kind, confidence, since when it is
true, its evidence and its statement.

The hash is sha256 over every member's id and the hash of its exact text,
so two canons with the same hash hold the same claims word for word. Every
promotion or demotion compiles a new version, numbered from 1; --version N
shows an earlier one. --versions lists them all with what each changed.

--diff shows what changed between two versions: the claims added (+) and
removed (-). Without a range it compares the previous version with the
latest (--diff=latest); otherwise FROM..TO, FROM.. (to the latest), ..TO
(from TO-1) or N (the change that made version N). Version 0 is the empty canon, so
--diff 0..N lists every member of N.`,
		Example: `  mirror memory canon
  mirror memory canon --version 3
  mirror memory canon --diff
  mirror memory canon --diff 2..5
  mirror memory canon --versions`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			diffing := cmd.Flags().Changed("diff")
			if diff == diffDefault {
				diff = ""
			}
			if len(args) == 1 {
				if !diffing || diff != "" {
					return fmt.Errorf("unexpected argument %q (a range goes with --diff: --diff 2..5)", args[0])
				}
				diff = args[0]
				if diff == diffDefault {
					diff = ""
				}
			}
			if diffing && (versions || cmd.Flags().Changed("version")) || versions && cmd.Flags().Changed("version") {
				return errors.New("use one of --version, --diff and --versions")
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			switch {
			case diffing:
				from, to, err := parseCanonRange(diff)
				if err != nil {
					return err
				}
				q := url.Values{}
				if to != 0 {
					q.Set("to", strconv.FormatUint(to, 10))
				}
				if from != 0 || (diff != "" && !strings.HasPrefix(diff, "..")) {
					q.Set("from", strconv.FormatUint(from, 10))
				}
				raw, err := memGet(ctx, c, "/v1/memory/canon/diff?"+q.Encode())
				if err != nil {
					return err
				}
				var d memory.CanonDiff
				if printed, err := decodeOrPrint(w, raw, asJSON, &d); printed || err != nil {
					return err
				}
				printCanonDiff(w, d)
				return nil
			case versions:
				raw, err := memGet(ctx, c, "/v1/memory/canon/versions")
				if err != nil {
					return err
				}
				var resp struct {
					Versions []memory.CanonVersion `json:"versions"`
				}
				if printed, err := decodeOrPrint(w, raw, asJSON, &resp); printed || err != nil {
					return err
				}
				printCanonVersions(w, resp.Versions)
				return nil
			}
			path := "/v1/memory/canon"
			if cmd.Flags().Changed("version") {
				if version == 0 {
					return errors.New("--version: canon versions are numbered from 1")
				}
				path += "?version=" + strconv.FormatUint(version, 10)
			}
			raw, err := memGet(ctx, c, path)
			if err != nil {
				return err
			}
			var cv canonAnswer
			if printed, err := decodeOrPrint(w, raw, asJSON, &cv); printed || err != nil {
				return err
			}
			printCanon(w, cv)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&version, "version", 0, "show this canon version (default: the latest)")
	cmd.Flags().StringVar(&diff, "diff", "", "show the changes between versions FROM..TO (default: the previous and the latest)")
	cmd.Flags().Lookup("diff").NoOptDefVal = diffDefault
	cmd.Flags().BoolVar(&versions, "versions", false, "list every canon version with what it changed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func printCanon(w io.Writer, cv canonAnswer) {
	if cv.Version == 0 {
		fmt.Fprintf(w, "the canon is empty: no claim has been promoted yet (hash %s)\n", cv.Hash)
		return
	}
	fmt.Fprintf(w, "canon version %d, %s, hash %s\n", cv.Version, plural(len(cv.Claims), "claim", "claims"), cv.Hash)
	fmt.Fprintf(w, "compiled %s, ledger entry %d\n", memTimeString(cv.CreatedAt), cv.LedgerIndex)
	if len(cv.Claims) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tCONF\tVALID_AT\tEVIDENCE\tSTATEMENT")
	for _, c := range cv.Claims {
		st := oneLine(c.Statement, 80)
		if c.Subject != "" {
			st = "[" + oneLine(c.Subject, 30) + "] " + st
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%s\n", c.ID, c.Kind, c.Confidence, memTimeString(c.ValidAt), memShortList(c.Evidence), st)
	}
	tw.Flush()
}

func printCanonDiff(w io.Writer, d memory.CanonDiff) {
	fmt.Fprintf(w, "canon version %d → %d: %d added, %d removed\n", d.From, d.To, len(d.Added), len(d.Removed))
	for _, c := range d.Added {
		fmt.Fprintf(w, "+ %s [%s] %s\n", c.ID, c.Kind, oneLine(c.Statement, 100))
	}
	for _, c := range d.Removed {
		why := string(c.Status)
		if c.ContradictedBy != "" {
			why += ", contradicted by " + c.ContradictedBy
		}
		fmt.Fprintf(w, "- %s [%s] %s (%s)\n", c.ID, c.Kind, oneLine(c.Statement, 100), why)
	}
}

func printCanonVersions(w io.Writer, vs []memory.CanonVersion) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "no canon versions yet: no claim has been promoted")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCLAIMS\tADDED\tREMOVED\tCOMPILED\tLEDGER\tBY\tHASH")
	for _, v := range vs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", v.Version, v.Count, dash(strings.Join(v.Added, ",")), dash(strings.Join(v.Removed, ",")),
			memTime(v.CreatedAt), v.LedgerIndex, v.Actor, v.Hash)
	}
	tw.Flush()
}

// claimAnswer is the answer of GET /v1/memory/claims/{id}.
type claimAnswer struct {
	Claim   memory.Claim          `json:"claim"`
	History []memory.HistoryEvent `json:"history"`
}

func getClaim(ctx context.Context, c *client, id string) (claimAnswer, []byte, error) {
	var a claimAnswer
	raw, err := memGet(ctx, c, "/v1/memory/claims/"+url.PathEscape(id))
	if err != nil {
		return a, nil, err
	}
	return a, raw, decodeInto(raw, &a)
}

// checkClaimID refuses what is plainly not a claim id before asking.
func checkClaimID(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("a claim id is required (clm_…)")
	}
	if strings.HasPrefix(id, evidencePrefix) {
		return fmt.Errorf("%s is an evidence id, not a claim id (claim ids start with clm_; 'mirror memory claims --evidence %s' lists the claims citing it)", memShort(id), memShort(id))
	}
	return nil
}

// lastEvent returns the latest history event of a kind.
func lastEvent(h []memory.HistoryEvent, kind string) (memory.HistoryEvent, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Kind == kind {
			return h[i], true
		}
	}
	return memory.HistoryEvent{}, false
}

func newMemoryPromoteCmd(g *globals) *cobra.Command {
	var (
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "promote CLAIM [--reason R]",
		Short: "Promote a claim into the canon, on your verification",
		Long: `Promote a claim into the canon because you (or a verifier) checked it,
without waiting for corroboration by more evidence. The promotion is a
ledger entry naming your lease and the reason, and compiles a new canon
version. Promoting a canon claim changes nothing; a demoted claim cannot be
promoted again (add the statement anew as a new claim).`,
		Example: `  mirror memory promote clm_0123456789abcdef --reason "confirmed with Alice"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if err := checkClaimID(id); err != nil {
				return err
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			raw, err := memPost(ctx, c, "/v1/memory/claims/"+url.PathEscape(id)+"/promote", map[string]string{"reason": reason})
			if err != nil {
				return err
			}
			if asJSON {
				printRaw(w, raw)
				return nil
			}
			a, _, err := getClaim(ctx, c, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "claim %s is %s: %s\n", a.Claim.ID, a.Claim.Status, oneLine(a.Claim.Statement, 100))
			if e, ok := lastEvent(a.History, "promoted"); ok {
				fmt.Fprintf(w, "promoted %s by %s", memTime(e.At), e.Actor)
				if e.CanonVersion != 0 {
					fmt.Fprintf(w, " into canon version %d", e.CanonVersion)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why: how it was verified")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func newMemoryDemoteCmd(g *globals) *cobra.Command {
	var (
		reason, contradictedBy, invalidAt string
		asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "demote CLAIM [--reason R] [--contradicted-by CLAIM] [--invalid-at T]",
		Short: "Demote a claim: no longer believed, no longer true; kept with its history",
		Long: `Demote a claim that is wrong or no longer holds. Demotion invalidates and
never deletes: the claim stops being believed now (expired_at) and stops
being true at --invalid-at (default now), leaves the canon if it was there
(compiling a new canon version), and stays stored with its history.
Questions about the past (--as-of, --valid-at) still see it where it
belongs. A demoted claim is never promoted again. Times are
` + memTimeHelp + `.

--contradicted-by names the claim that contradicts it; both histories record
the link. To add a new claim and demote the one it replaces in one step, use
'mirror memory claim … --contradicts CLAIM'.`,
		Example: `  mirror memory demote clm_0123456789abcdef --reason "Alice moved"
  mirror memory demote clm_0123456789abcdef --contradicted-by clm_fedcba9876543210 --invalid-at 2026-03-01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if err := checkClaimID(id); err != nil {
				return err
			}
			if contradictedBy != "" {
				if err := checkClaimID(contradictedBy); err != nil {
					return fmt.Errorf("--contradicted-by: %w", err)
				}
			}
			ia, err := parseMemoryTime("--invalid-at", invalidAt)
			if err != nil {
				return err
			}
			req := map[string]string{"reason": reason}
			if contradictedBy != "" {
				req["contradicted_by"] = contradictedBy
			}
			if ia != "" {
				req["invalid_at"] = ia
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			raw, err := memPost(ctx, c, "/v1/memory/claims/"+url.PathEscape(id)+"/demote", req)
			if err != nil {
				return err
			}
			if asJSON {
				printRaw(w, raw)
				return nil
			}
			a, _, err := getClaim(ctx, c, id)
			if err != nil {
				return err
			}
			cl := a.Claim
			fmt.Fprintf(w, "demoted %s: %s\n", cl.ID, oneLine(cl.Statement, 100))
			fmt.Fprintf(w, "no longer believed from %s; no longer true from %s\n", memTime(cl.ExpiredAt), memTime(cl.InvalidAt))
			if cl.ContradictedBy != "" {
				fmt.Fprintf(w, "contradicted by %s\n", cl.ContradictedBy)
			}
			if e, ok := lastEvent(a.History, "demoted"); ok && e.CanonVersion != 0 {
				fmt.Fprintf(w, "left the canon: canon version %d\n", e.CanonVersion)
			} else {
				fmt.Fprintln(w, "it was not in the canon: canon unchanged")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why it is demoted")
	cmd.Flags().StringVar(&contradictedBy, "contradicted-by", "", "the claim that contradicts it")
	cmd.Flags().StringVar(&invalidAt, "invalid-at", "", "when it stopped being true (default now)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func newMemoryHistoryCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history CLAIM",
		Short: "Show a claim and its life: created, corroborated, promoted, demoted",
		Long: `Show a claim — its statement, both time intervals, the evidence it rests on —
then every event of its life in time order: created, corroborated (more
evidence attached), promoted, demoted, contradicts (it demoted another
claim). Each event shows when, who (the lease or the kernel's own actor,
such as memory/corroboration), why, the related claim, the canon version it
compiled and the ledger entry that records it ('mirror audit show N').`,
		Example: `  mirror memory history clm_0123456789abcdef
  mirror memory history clm_0123456789abcdef --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if err := checkClaimID(id); err != nil {
				return err
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			return showClaim(cmd.Context(), c, cmd.OutOrStdout(), id, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func showClaim(ctx context.Context, c *client, w io.Writer, id string, asJSON bool) error {
	a, raw, err := getClaim(ctx, c, id)
	if err != nil {
		return err
	}
	if asJSON {
		printRaw(w, raw)
		return nil
	}
	printClaim(w, a.Claim)
	fmt.Fprintln(w)
	printHistory(w, a.History)
	return nil
}

func printClaim(w io.Writer, c memory.Claim) {
	fmt.Fprintf(w, "claim       %s (seq %d)\n", c.ID, c.Seq)
	fmt.Fprintf(w, "statement   %s\n", c.Statement)
	if c.Subject != "" {
		fmt.Fprintf(w, "subject     %s\n", c.Subject)
	}
	fmt.Fprintf(w, "kind        %s, confidence %g\n", c.Kind, c.Confidence)
	fmt.Fprintf(w, "status      %s\n", c.Status)
	until := "still true"
	if !c.InvalidAt.IsZero() {
		until = "until " + memTime(c.InvalidAt)
	}
	fmt.Fprintf(w, "true        from %s, %s (world time)\n", memTime(c.ValidAt), until)
	until = "still believed"
	if !c.ExpiredAt.IsZero() {
		until = "until " + memTime(c.ExpiredAt)
	}
	fmt.Fprintf(w, "believed    from %s, %s (system time)\n", memTime(c.CreatedAt), until)
	fmt.Fprintf(w, "added by    %s\n", c.Actor)
	if c.ContradictedBy != "" {
		fmt.Fprintf(w, "contradicted by %s\n", c.ContradictedBy)
	}
	fmt.Fprintf(w, "hash        %s\n", c.Hash)
	fmt.Fprintf(w, "evidence    %s:\n", plural(len(c.EvidenceIDs()), "piece", "pieces"))
	for _, s := range c.Provenance {
		fmt.Fprintf(w, "  %s [%d, %d) cited by %s at %s\n", s.EvidenceID, s.Start, s.End, s.Actor, memTime(s.AddedAt))
	}
}

func printHistory(w io.Writer, h []memory.HistoryEvent) {
	h = slices.Clone(h)
	slices.SortStableFunc(h, func(a, b memory.HistoryEvent) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.LedgerIndex, b.LedgerIndex)
	})
	fmt.Fprintf(w, "history (%s):\n", plural(len(h), "event", "events"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tAT\tACTOR\tRELATED\tCANON\tLEDGER\tEVIDENCE\tREASON")
	for _, e := range h {
		canon := "-"
		if e.CanonVersion != 0 {
			canon = strconv.FormatInt(e.CanonVersion, 10)
		}
		var spans []string
		for _, s := range e.Spans {
			spans = append(spans, fmt.Sprintf("%s[%d,%d)", memShort(s.EvidenceID), s.Start, s.End))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Kind, memTime(e.At), e.Actor, dash(e.Related), canon, e.LedgerIndex,
			dash(strings.Join(spans, " ")), dash(oneLine(e.Reason, 100)))
	}
	tw.Flush()
}

func newMemoryShowCmd(g *globals) *cobra.Command {
	var contentOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a piece of evidence with its content, or a claim with its history",
		Long: `Show a piece of evidence (an id starting with sha256:, or an unambiguous
prefix of one) with its metadata, its content and the claims citing it; or a
claim (clm_…) with its history, as 'mirror memory history' does.

Text content is printed as it is; binary content is not printed unless
--content asks for it: --content writes only the content's bytes, so that
'mirror memory show ID --content > file' recovers the file. Redacted
evidence shows who erased it, when and why.`,
		Example: `  mirror memory show sha256:3f1c9a2b7d10
  mirror memory show sha256:3f1c9a2b7d10 --content > recovered.png
  mirror memory show clm_0123456789abcdef`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if !strings.HasPrefix(strings.ToLower(id), evidencePrefix) && !(len(id) == 64 && hexDigits.MatchString(strings.ToLower(id))) {
				if contentOnly {
					return errors.New("--content is for evidence; a claim has no content of its own")
				}
				return showClaim(ctx, c, w, id, asJSON)
			}
			if id, err = parseEvidenceID(id); err != nil {
				return err
			}
			if id, err = resolveEvidence(ctx, c, id); err != nil {
				return err
			}
			a, raw, err := getEvidence(ctx, c, id)
			if err != nil {
				return err
			}
			if contentOnly {
				switch {
				case a.Evidence.Redacted():
					return fmt.Errorf("evidence %s was redacted: its content is gone", id)
				case a.Content != nil:
					_, err = io.WriteString(w, *a.Content)
				default:
					var b []byte
					if b, err = base64.StdEncoding.DecodeString(a.ContentBase64); err == nil {
						_, err = w.Write(b)
					}
				}
				return err
			}
			if asJSON {
				printRaw(w, raw)
				return nil
			}
			var citing struct {
				Claims []memory.Claim `json:"claims"`
			}
			craw, err := memGet(ctx, c, "/v1/memory/claims?limit=1000&evidence="+url.QueryEscape(id))
			if err != nil {
				return err
			}
			if err := decodeInto(craw, &citing); err != nil {
				return err
			}
			printEvidence(w, a, citing.Claims)
			return nil
		},
	}
	cmd.Flags().BoolVar(&contentOnly, "content", false, "write only the evidence's content bytes")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func printEvidence(w io.Writer, a evidenceAnswer, citing []memory.Claim) {
	e := a.Evidence
	fmt.Fprintf(w, "evidence    %s (seq %d)\n", e.ID, e.Seq)
	fmt.Fprintf(w, "kind        %s, %d bytes, searchable text: %t\n", e.Kind, e.Size, e.Text)
	if e.MediaType != "" {
		fmt.Fprintf(w, "media type  %s\n", e.MediaType)
	}
	fmt.Fprintf(w, "source      %s\n", dash(e.Source))
	fmt.Fprintf(w, "observed    %s\n", memTime(e.ObservedAt))
	fmt.Fprintf(w, "added       %s by %s, ledger entry %d\n", memTime(e.CreatedAt), e.Actor, e.LedgerIndex)
	if r := e.Redaction; r != nil {
		fmt.Fprintf(w, "REDACTED    %s by %s (ledger entry %d): %s\n", memTime(r.At), r.Actor, r.LedgerIndex, r.Reason)
	}
	if len(citing) > 0 {
		fmt.Fprintf(w, "cited by    %s:\n", plural(len(citing), "claim", "claims"))
		for _, c := range citing {
			fmt.Fprintf(w, "  %s [%s] %s\n", c.ID, c.Status, oneLine(c.Statement, 100))
		}
	} else {
		fmt.Fprintln(w, "cited by    no claim")
	}
	switch {
	case e.Redacted():
	case a.Content != nil:
		fmt.Fprintf(w, "\n%s", *a.Content)
		if !strings.HasSuffix(*a.Content, "\n") {
			fmt.Fprintln(w)
		}
	default:
		fmt.Fprintf(w, "\n(binary content, %d bytes: write it out with 'mirror memory show %s --content > FILE')\n", e.Size, memShort(e.ID))
	}
}

func newMemoryRedactCmd(g *globals) *cobra.Command {
	var (
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "redact EVIDENCE --reason R",
		Short: "Erase a piece of evidence's content, keeping a tombstone",
		Long: `Redact a piece of evidence: its content is erased from the store and from
the search index, for good. What stays is a tombstone — the id, the
metadata, who redacted it, when and why — and the claims citing it, which
'mirror memory verify' then reports as resting on redacted (not tampered)
evidence. The ledger never held the content, only its hash, so nothing else
has to change.

Claims citing the evidence are left as they are: the command lists them, so
that you can demote those that repeat what was erased. The full evidence id
is required (no prefix), and so is --reason; redacting twice is refused.`,
		Example: `  mirror memory redact sha256:3f1c9a2b7d10e4… --reason "contained a password"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseEvidenceID(args[0])
			if err != nil {
				return err
			}
			if len(id) != len(evidencePrefix)+64 {
				return fmt.Errorf("redact needs the full evidence id (sha256: and 64 hex digits), not a prefix: 'mirror memory show %s' prints it", id)
			}
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: it is recorded in the ledger with the redaction")
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			raw, err := memPost(ctx, c, "/v1/memory/evidence/"+url.PathEscape(id)+"/redact", map[string]string{"reason": reason})
			if err != nil {
				return err
			}
			var a struct {
				Evidence memory.Evidence `json:"evidence"`
			}
			if printed, err := decodeOrPrint(w, raw, asJSON, &a); printed || err != nil {
				return err
			}
			fmt.Fprintf(w, "redacted %s: %d bytes of content erased; the id, the metadata and the citing claims stay\n", a.Evidence.ID, a.Evidence.Size)
			var citing struct {
				Claims []memory.Claim `json:"claims"`
			}
			craw, err := memGet(ctx, c, "/v1/memory/claims?limit=1000&status=candidate,canon&evidence="+url.QueryEscape(id))
			if err == nil && decodeInto(craw, &citing) == nil && len(citing.Claims) > 0 {
				fmt.Fprintf(w, "live claims citing it (demote those that repeat what was erased: mirror memory demote CLAIM --reason …):\n")
				for _, c := range citing.Claims {
					fmt.Fprintf(w, "  %s [%s] %s\n", c.ID, c.Status, oneLine(c.Statement, 100))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the ledger)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer")
	return cmd
}

func newMemoryVerifyCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check memory against its ledger; exit 1 naming every problem",
		Long: `Replay the memory entries of the ledger and compare them with the store:
every piece of evidence must hash to its id (unless a recorded redaction
erased it); every claim must match the hash of its text, its times, status,
confidence and spans as its ledger entries recorded them, and its spans must
fall within existing evidence; every canon version's hash, recomputed from
its members, must match its ledger entry.

Prints what was checked and every problem (table, id, what is wrong), and
exits 1 when there is any. 'mirror audit verify' checks the ledger itself.`,
		Example: `  mirror memory verify
  mirror memory verify --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			c.http.Timeout = 10 * time.Minute // it reads all of memory
			raw, err := memPost(cmd.Context(), c, "/v1/memory/verify", struct{}{})
			if err != nil {
				return err
			}
			var a struct {
				OK     bool          `json:"ok"`
				Report memory.Report `json:"report"`
			}
			if err := decodeInto(raw, &a); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			r := a.Report
			if asJSON {
				printRaw(w, raw)
				if len(r.Problems) > 0 {
					return &exitError{1, errQuiet}
				}
				return nil
			}
			fmt.Fprintf(w, "checked %s (%d redacted), %s, %s against %s\n",
				plural(r.Evidence, "piece of evidence", "pieces of evidence"), r.Redacted, plural(r.Claims, "claim", "claims"),
				plural(r.CanonVersions, "canon version", "canon versions"), plural(r.LedgerEntries, "memory ledger entry", "memory ledger entries"))
			if len(r.Problems) == 0 {
				fmt.Fprintln(w, "ok: memory matches its ledger")
				return nil
			}
			fmt.Fprintf(w, "%s:\n", plural(len(r.Problems), "PROBLEM", "PROBLEMS"))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tID\tPROBLEM")
			for _, p := range r.Problems {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Table, p.ID, p.Problem)
			}
			tw.Flush()
			return &exitError{1, fmt.Errorf("memory verification FAILED: %s", plural(len(r.Problems), "problem", "problems"))}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the kernel's JSON answer (still exit 1 on problems)")
	return cmd
}

// exportCounter counts the records of a JSON Lines export by type, reading
// the start of each line as it streams by.
type exportCounter struct {
	head   []byte // the start of the current line
	counts map[string]int
	lines  int
	bytes  int64
}

var exportType = regexp.MustCompile(`^\{"type":"([a-z_]+)"`)

func (x *exportCounter) Write(p []byte) (int, error) {
	x.bytes += int64(len(p))
	for _, b := range p {
		if b == '\n' {
			x.lines++
			if m := exportType.FindSubmatch(x.head); m != nil {
				x.counts[string(m[1])]++
			}
			x.head = x.head[:0]
			continue
		}
		if len(x.head) < 32 {
			x.head = append(x.head, b)
		}
	}
	return len(p), nil
}

func newMemoryExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Export all of memory as JSON Lines",
		Long: `Write all of memory, from one consistent snapshot, as JSON Lines: every piece
of evidence in the order added ({"type":"evidence",…} with its content in
content_base64, or "redacted":true and its tombstone), then every claim with
its provenance ({"type":"claim",…}), then every canon version with the
claims it added and removed ({"type":"canon",…}; the latest also lists its
members).

Without -o the export goes to standard output. With -o it is written to a
new file readable only by you (mode 0600) that appears only once complete.`,
		Example: `  mirror memory export -o memory-$(date +%F).jsonl
  mirror memory export | jq -c 'select(.type == "claim" and .status == "canon")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/memory/export", nil)
			if err != nil {
				return err
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := (&http.Client{}).Do(req) // no timeout: memory may be large
			if err != nil {
				return fmt.Errorf("cannot reach the kernel at %s (is 'mirror up' running?): %w", c.base, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				_, _, err := answer(resp, body)
				return memExplain(err)
			}
			count := &exportCounter{counts: map[string]int{}}
			if out == "" || out == "-" {
				if _, err := io.Copy(io.MultiWriter(cmd.OutOrStdout(), count), resp.Body); err != nil {
					return fmt.Errorf("export: %w", err)
				}
			} else if err := writeExport(out, io.TeeReader(resp.Body, count)); err != nil {
				return err
			}
			if len(count.head) > 0 {
				return errors.New("the export ended in the middle of a line: the kernel failed while writing it (its log says why)")
			}
			where := "standard output"
			if out != "" && out != "-" {
				where = out
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %s, %s and %s (%d lines, %d bytes) to %s\n",
				plural(count.counts[memory.ExportEvidence], "piece of evidence", "pieces of evidence"),
				plural(count.counts[memory.ExportClaim], "claim", "claims"),
				plural(count.counts[memory.ExportCanon], "canon version", "canon versions"), count.lines, count.bytes, where)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file (mode 0600) instead of standard output")
	return cmd
}

// writeExport writes r to path through a private temporary file in the
// same directory, renamed into place once complete.
func writeExport(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("export: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
