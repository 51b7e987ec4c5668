package api

import (
	"errors"
	"testing"

	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
)

// FuzzDecodeEvent feeds arbitrary bodies to the event decoder: it must never
// panic, must answer every bad body with a 4xx *Error or a ledger
// validation error, and must only accept events the ledger can record,
// namespaced under event. and the principal.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"kind":"backup.finished","actor":"cron","body":{"files":12}}`,
		`{"kind":"event.deploy"}`,
		`{"kind":"x","body":[]}`,
		`{"kind":"a.b","body":{"a":1,"a":2}}`,
		`{"kind":"a.b"} {"kind":"c.d"}`,
		`{"kind":"a.b","unknown":1}`,
		`{"kind":"","actor":"\u0000"}`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	p := kernel.Principal{Lease: store.Lease{ID: "lse_root", Name: "owner", Scopes: []string{"*"}}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := decodeEvent(p, raw)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				if e.Status < 400 || e.Status > 499 || e.Code == "" {
					t.Fatalf("bad input answered with %d %q", e.Status, e.Code)
				}
				return
			}
			if !errors.Is(err, ledger.ErrInvalidEvent) && !errors.Is(err, ledger.ErrEntryTooLarge) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if s := toError(err).Status; s < 400 || s > 499 {
				t.Fatalf("validation error mapped to %d", s)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an event the ledger rejects: %v", err)
		}
		if len(ev.Kind) < 6 || ev.Kind[:6] != "event." {
			t.Fatalf("kind %q is not namespaced", ev.Kind)
		}
		if len(ev.Actor) < 5 || ev.Actor[:5] != "owner" {
			t.Fatalf("actor %q does not start with the principal", ev.Actor)
		}
	})
}
