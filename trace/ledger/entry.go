package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxEntrySize is the largest entry in bytes. It is the limit of the C2SP
// tlog-tiles entry bundle format (a 16-bit length prefix).
const MaxEntrySize = 65535

// Limits on the fields of an entry.
const (
	MaxKindLen  = 64
	MaxActorLen = 256
)

// Event is what a caller asks the ledger to record. The ledger adds the
// index and the time when it sequences the event.
type Event struct {
	Kind  string          // dotted lower-case name such as "kernel.start"
	Actor string          // who caused it
	Body  json.RawMessage // a JSON object; nil means {}
}

// Entry is a parsed ledger entry.
type Entry struct {
	Index uint64          `json:"index"`
	Time  time.Time       `json:"time"`
	Kind  string          `json:"kind"`
	Actor string          `json:"actor"`
	Body  json.RawMessage `json:"body"`
}

// Receipt acknowledges a durable entry.
type Receipt struct {
	Index    uint64
	LeafHash []byte
}

// ErrInvalidEvent is wrapped by every validation error of an Event.
var ErrInvalidEvent = errors.New("invalid event")

// ErrEntryTooLarge is returned for an event whose entry would exceed MaxEntrySize.
var ErrEntryTooLarge = errors.New("entry too large")

// ValidKind reports whether s is a well-formed kind: dot-separated segments
// of [a-z0-9_-], each starting with a letter or digit, at least two segments.
func ValidKind(s string) bool {
	if len(s) == 0 || len(s) > MaxKindLen {
		return false
	}
	segs, segLen := 1, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 {
				return false
			}
			segs++
			segLen = 0
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			segLen++
		case c == '_' || c == '-':
			if segLen == 0 {
				return false
			}
			segLen++
		default:
			return false
		}
	}
	return segLen > 0 && segs >= 2
}

func validActor(s string) bool {
	if s == "" || len(s) > MaxActorLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Validate reports whether the event can be recorded, with the error Append
// would give.
func (e Event) Validate() error {
	_, err := e.prepare()
	return err
}

// prepared is an event validated and encoded outside the sequencer, so that
// the sequencer only concatenates bytes.
type prepared struct {
	actor []byte // JSON string
	body  []byte // canonical JSON object
	kind  []byte // JSON string
}

func (e Event) prepare() (prepared, error) {
	if !ValidKind(e.Kind) {
		return prepared{}, fmt.Errorf("%w: kind %q must be dot-separated lower-case segments such as \"event.backup\" (at most %d bytes)", ErrInvalidEvent, e.Kind, MaxKindLen)
	}
	if !validActor(e.Actor) {
		return prepared{}, fmt.Errorf("%w: actor must be 1 to %d bytes of printable UTF-8", ErrInvalidEvent, MaxActorLen)
	}
	body := []byte("{}")
	if len(bytes.TrimSpace(e.Body)) > 0 && !bytes.Equal(bytes.TrimSpace(e.Body), []byte("null")) {
		var err error
		body, err = CanonicalObject(e.Body)
		if err != nil {
			return prepared{}, fmt.Errorf("%w: body: %v", ErrInvalidEvent, err)
		}
	}
	p := prepared{actor: quote(e.Actor), body: body, kind: quote(e.Kind)}
	// index ≤ 20 digits, time ≤ 30 bytes, punctuation and keys ≈ 45 bytes.
	if len(p.actor)+len(p.body)+len(p.kind)+100 > MaxEntrySize {
		return prepared{}, fmt.Errorf("%w: the entry would exceed %d bytes", ErrEntryTooLarge, MaxEntrySize)
	}
	return p, nil
}

// encode assembles the canonical entry bytes: the keys in sorted order, no
// insignificant white space.
func (p prepared) encode(dst []byte, index uint64, t time.Time) []byte {
	dst = append(dst, `{"actor":`...)
	dst = append(dst, p.actor...)
	dst = append(dst, `,"body":`...)
	dst = append(dst, p.body...)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, `,"kind":`...)
	dst = append(dst, p.kind...)
	dst = append(dst, `,"time":"`...)
	dst = t.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, `"}`...)
	return dst
}

// TimeFormat is RFC 3339 in UTC with nanoseconds, always nine digits, so that
// the entry bytes sort and compare as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

func quote(s string) []byte { return appendString(nil, []byte(s)) }

const maxDepth = 64

// ParseEntry parses and validates stored entry bytes: a canonical JSON object
// with exactly the fields index, time, kind, actor and body.
func ParseEntry(data []byte) (Entry, error) {
	if len(data) > MaxEntrySize {
		return Entry{}, fmt.Errorf("entry is %d bytes, over the %d limit", len(data), MaxEntrySize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Entry{}, fmt.Errorf("entry is not a JSON object: %v", err)
	}
	for _, k := range []string{"index", "time", "kind", "actor", "body"} {
		if _, ok := raw[k]; !ok {
			return Entry{}, fmt.Errorf("entry has no %q field", k)
		}
	}
	if len(raw) != 5 {
		return Entry{}, fmt.Errorf("entry has %d fields, want 5", len(raw))
	}
	var e Entry
	var ts string
	if err := json.Unmarshal(raw["index"], &e.Index); err != nil {
		return Entry{}, fmt.Errorf("entry index: %v", err)
	}
	if err := json.Unmarshal(raw["time"], &ts); err != nil {
		return Entry{}, fmt.Errorf("entry time: %v", err)
	}
	t, err := time.Parse(TimeFormat, ts)
	if err != nil {
		return Entry{}, fmt.Errorf("entry time %q is not RFC 3339 UTC with nanoseconds", ts)
	}
	e.Time = t
	if err := json.Unmarshal(raw["kind"], &e.Kind); err != nil || !ValidKind(e.Kind) {
		return Entry{}, fmt.Errorf("entry kind %s is not valid", raw["kind"])
	}
	if err := json.Unmarshal(raw["actor"], &e.Actor); err != nil || !validActor(e.Actor) {
		return Entry{}, fmt.Errorf("entry actor %s is not valid", raw["actor"])
	}
	e.Body = raw["body"]
	p, err := Event{Kind: e.Kind, Actor: e.Actor, Body: e.Body}.prepare()
	if err != nil {
		return Entry{}, fmt.Errorf("entry fields: %v", err)
	}
	if !bytes.Equal(p.encode(nil, e.Index, e.Time), data) {
		return Entry{}, errors.New("entry is not in canonical form")
	}
	return e, nil
}

// entryIndex extracts the index field of entry bytes cheaply, for
// verification at speed. Because the keys are sorted and kind and time cannot
// contain `,"index":`, its last occurrence is the top-level field.
func entryIndex(data []byte) (uint64, bool) {
	i := bytes.LastIndex(data, []byte(`,"index":`))
	if i < 0 {
		return 0, false
	}
	rest := data[i+len(`,"index":`):]
	j := bytes.IndexByte(rest, ',')
	if j <= 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	if err != nil || (j > 1 && rest[0] == '0') {
		return 0, false
	}
	return n, true
}
