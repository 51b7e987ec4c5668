package council

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Bounds on the search for JSON objects in a model's reply, so a hostile or
// runaway reply cannot make the search quadratic in a large input.
const (
	maxJSONScan   = 256 << 10 // bytes of a reply searched
	maxJSONStarts = 256       // opening braces tried
)

// jsonObjects returns the top-level JSON objects embedded in s, in order. It
// tolerates anything around them: prose, Markdown code fences, a second
// object. An opening brace that does not begin a valid object is skipped.
func jsonObjects(s string) []string {
	if len(s) > maxJSONScan {
		s = s[:maxJSONScan]
	}
	var out []string
	starts := 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '{')
		if j < 0 {
			break
		}
		i += j
		if starts++; starts > maxJSONStarts {
			break
		}
		if end := matchBrace(s, i); end > 0 && json.Valid([]byte(s[i:end])) {
			out = append(out, s[i:end])
			i = end
			continue
		}
		i++
	}
	return out
}

// FirstJSONObject returns the first complete, valid JSON object embedded in
// a model's reply (which may wrap it in prose or a code fence). The search
// is bounded, so a hostile reply cannot make it quadratic.
func FirstJSONObject(text string) ([]byte, bool) {
	if objs := jsonObjects(text); len(objs) > 0 {
		return []byte(objs[0]), true
	}
	return nil, false
}

// matchBrace returns the index just past the brace that closes the one at
// s[start], treating braces inside JSON strings as text, or -1 if it is never
// closed.
func matchBrace(s string, start int) int {
	depth := 0
	inString, escaped := false, false
	for i := start; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// errNoJSON reports a reply with no usable JSON object.
var errNoJSON = errors.New("no JSON object")

// parseJSONObject decodes into v the first JSON object embedded in text that
// has every one of keys and decodes into v without error.
func parseJSONObject(text string, v any, keys ...string) error {
	objs := jsonObjects(text)
	if len(objs) == 0 {
		return errNoJSON
	}
	var lastErr error
	for _, obj := range objs {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(obj), &fields); err != nil {
			lastErr = err
			continue
		}
		missing := ""
		for _, k := range keys {
			if _, ok := fields[k]; !ok {
				missing = k
				break
			}
		}
		if missing != "" {
			lastErr = fmt.Errorf("JSON object has no %q field", missing)
			continue
		}
		if err := json.Unmarshal([]byte(obj), v); err != nil {
			lastErr = err
			continue
		}
		return nil
	}
	return lastErr
}

// flexString is a JSON value read as text: a string as is, anything else as
// its JSON encoding.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	*f = flexString(b)
	return nil
}

// rankingReply is the JSON a ranker returns.
type rankingReply struct {
	Ranking []string   `json:"ranking"`
	Reasons flexString `json:"reasons"`
}

// parseRanking reads a ranker's reply. labels are the letters the ranker was
// shown; the ranking must list each exactly once. It returns the positions
// into labels, best first.
func parseRanking(text string, labels []string) (order []int, reasons string, err error) {
	var reply rankingReply
	if err := parseJSONObject(text, &reply, "ranking"); err != nil {
		return nil, "", err
	}
	reasons = strings.TrimSpace(string(reply.Reasons))
	pos := make(map[string]int, len(labels))
	for i, l := range labels {
		pos[l] = i
	}
	seen := make(map[int]bool, len(labels))
	for _, raw := range reply.Ranking {
		l := normalizeLabel(raw)
		i, ok := pos[l]
		switch {
		case !ok:
			return nil, reasons, fmt.Errorf("ranking names unknown response %q", raw)
		case seen[i]:
			return nil, reasons, fmt.Errorf("ranking names response %s twice", l)
		}
		seen[i] = true
		order = append(order, i)
	}
	if len(order) != len(labels) {
		return nil, reasons, fmt.Errorf("ranking lists %d of %d responses", len(order), len(labels))
	}
	return order, reasons, nil
}

// normalizeLabel reduces "Response b", "(B)", " b. " and the like to "B".
func normalizeLabel(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimFunc(s, isTrimmable)
	s = strings.TrimPrefix(s, "response")
	s = strings.TrimFunc(s, isTrimmable)
	return strings.ToUpper(s)
}

// claimsReply is the JSON the chairman returns when splitting claims.
type claimsReply struct {
	Claims []json.RawMessage `json:"claims"`
}

// parseClaims reads the chairman's claim split: a list of strings, or of
// objects with a "claim" or "text" field. Empty and repeated claims are
// dropped and at most MaxClaims are kept.
func parseClaims(text string) ([]string, error) {
	var reply claimsReply
	if err := parseJSONObject(text, &reply, "claims"); err != nil {
		return nil, err
	}
	var claims []string
	seen := make(map[string]bool)
	for _, raw := range reply.Claims {
		var c string
		if err := json.Unmarshal(raw, &c); err != nil {
			var obj struct {
				Claim string `json:"claim"`
				Text  string `json:"text"`
			}
			if json.Unmarshal(raw, &obj) != nil {
				continue
			}
			c = obj.Claim
			if c == "" {
				c = obj.Text
			}
		}
		c = strings.Join(strings.Fields(c), " ")
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		claims = append(claims, c)
		if len(claims) == MaxClaims {
			break
		}
	}
	if len(claims) == 0 {
		return nil, errors.New("no claims listed")
	}
	return claims, nil
}

// Verdicts a judge can give on a claim.
const (
	verdictSupported    = "supported"
	verdictContradicted = "contradicted"
	verdictUnsupported  = "unsupported"
)

// verdict is one judge's verdict on one claim; kind is empty when the judge
// gave none.
type verdict struct {
	kind string
	note string
}

// verdictsReply is the JSON a judge returns.
type verdictsReply struct {
	Verdicts []struct {
		Claim   flexString `json:"claim"`
		Verdict flexString `json:"verdict"`
		Note    flexString `json:"note"`
	} `json:"verdicts"`
}

// parseVerdicts reads a judge's reply on n numbered claims. Verdicts for
// unknown claim numbers or with unknown values are ignored; the first verdict
// on a claim wins. It fails if no verdict at all is usable.
func parseVerdicts(text string, n int) ([]verdict, error) {
	var reply verdictsReply
	if err := parseJSONObject(text, &reply, "verdicts"); err != nil {
		return nil, err
	}
	out := make([]verdict, n)
	usable := 0
	for _, v := range reply.Verdicts {
		num, err := strconv.Atoi(strings.Trim(strings.TrimSpace(string(v.Claim)), "#."))
		if err != nil || num < 1 || num > n || out[num-1].kind != "" {
			continue
		}
		kind := normalizeVerdict(string(v.Verdict))
		if kind == "" {
			continue
		}
		out[num-1] = verdict{kind: kind, note: strings.Join(strings.Fields(string(v.Note)), " ")}
		usable++
	}
	if usable == 0 {
		return nil, errors.New("no usable verdicts")
	}
	return out, nil
}

// normalizeVerdict maps a judge's verdict word to one of the verdict
// constants, or "" if it is none of them.
func normalizeVerdict(s string) string {
	s = strings.ToLower(strings.TrimFunc(s, isTrimmable))
	switch {
	case strings.HasPrefix(s, "contradict"), s == "false", s == "refuted":
		return verdictContradicted
	case strings.HasPrefix(s, "unsupport"), strings.HasPrefix(s, "unverif"), strings.HasPrefix(s, "uncertain"), s == "unknown":
		return verdictUnsupported
	case strings.HasPrefix(s, "support"), s == "true", s == "confirmed":
		return verdictSupported
	}
	return ""
}

// choiceReply is the JSON a voter returns.
type choiceReply struct {
	Choice flexString `json:"choice"`
}

// parseChoice reads a voter's reply and matches it against choices, ignoring
// case, surrounding punctuation and spacing. It returns the choice as given
// in the question.
func parseChoice(text string, choices []string) (string, error) {
	var reply choiceReply
	if err := parseJSONObject(text, &reply, "choice"); err != nil {
		return "", err
	}
	got := normalizeAnswer(string(reply.Choice))
	for _, c := range choices {
		if normalizeAnswer(c) == got {
			return c, nil
		}
	}
	return "", fmt.Errorf("choice %q is not one of the allowed choices", string(reply.Choice))
}

// isTrimmable reports whether r is space or punctuation that may surround an
// answer without changing it: sentence punctuation, quotes, brackets and
// Markdown emphasis. Symbols that can be part of an answer, such as + # $ %,
// are kept.
func isTrimmable(r rune) bool {
	if unicode.IsSpace(r) {
		return true
	}
	return strings.ContainsRune(".,;:!?¡¿\"'`*_~()[]{}<>«»“”‘’", r)
}

// normalizeAnswer reduces a short answer to a comparable form: lower case,
// single spaces, no surrounding punctuation, no "answer:" label.
func normalizeAnswer(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	s = strings.TrimFunc(s, isTrimmable)
	for _, p := range []string{"final answer:", "answer:"} {
		if strings.HasPrefix(s, p) {
			s = strings.TrimFunc(s[len(p):], isTrimmable)
			break
		}
	}
	return s
}

// firstLine returns the first line of s that is not blank.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			return line
		}
	}
	return ""
}

// minSentenceWords is the fewest words a sentence needs to count as a claim
// in the fallback splitter.
const minSentenceWords = 4

// splitSentences is the deterministic fallback claim splitter. It skips
// fenced code, treats blank lines, headings and list items as breaks, splits
// the remaining text after . ! or ? followed by a space or line break, drops
// sentences of fewer than four words, and keeps at most MaxClaims.
func splitSentences(text string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, " "))
			cur = nil
		}
	}
	inFence := false
	for line := range strings.Lines(text) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			flush()
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if t == "" {
			flush()
			continue
		}
		if rest, ok := cutListMarker(t); ok {
			flush()
			t = rest
		}
		cur = append(cur, t)
	}
	flush()

	var out []string
	for _, b := range blocks {
		start := 0
		for i := 0; i < len(b); i++ {
			if c := b[i]; (c == '.' || c == '!' || c == '?') && (i+1 == len(b) || b[i+1] == ' ') {
				out = appendSentence(out, b[start:i+1])
				start = i + 1
			}
		}
		out = appendSentence(out, b[start:])
		if len(out) >= MaxClaims {
			return out[:MaxClaims]
		}
	}
	return out
}

// appendSentence appends s, tidied, to out if it is long enough to be a claim.
func appendSentence(out []string, s string) []string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Trim(s, "*_")
	if len(strings.Fields(s)) < minSentenceWords {
		return out
	}
	return append(out, strings.TrimSpace(s))
}

// cutListMarker strips a Markdown heading, bullet or number from the start of
// a line, reporting whether there was one.
func cutListMarker(t string) (string, bool) {
	switch {
	case strings.HasPrefix(t, "#"):
		return strings.TrimSpace(strings.TrimLeft(t, "#")), true
	case strings.HasPrefix(t, "- "), strings.HasPrefix(t, "* "), strings.HasPrefix(t, "+ "), strings.HasPrefix(t, "• "):
		_, rest, _ := strings.Cut(t, " ")
		return strings.TrimSpace(rest), true
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(t) && (t[i] == '.' || t[i] == ')') && t[i+1] == ' ' {
		return strings.TrimSpace(t[i+2:]), true
	}
	return t, false
}
