package anthropic

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/mirroros/mirror/bus"
)

// FuzzParseEvent feeds arbitrary bytes to the SSE event decoder, both as one
// event's data and as a whole stream body. It must never panic, and a
// stream must never end cleanly (io.EOF) without having produced Done.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"type":"ping"}`))
	f.Add([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ev, err := parseEvent("", data); err == nil && ev.Type == "" {
			t.Fatal("parsed an event without a type")
		}
		s := newStream(io.NopCloser(bytes.NewReader(data)), New(Config{}))
		sawDone := false
		for i := 0; i < 10000; i++ {
			ev, err := s.Next()
			if errors.Is(err, io.EOF) {
				if !sawDone {
					t.Fatal("io.EOF without Done")
				}
				return
			}
			if err != nil {
				if _, ok := bus.AsError(err); !ok {
					t.Fatalf("error is not a *bus.Error: %v", err)
				}
				return
			}
			if ev.Type == bus.Done {
				if sawDone {
					t.Fatal("two Done events")
				}
				sawDone = true
			}
		}
		t.Fatal("stream did not end")
	})
}
