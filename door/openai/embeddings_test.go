package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	busopenai "github.com/mirroros/mirror/bus/openai"
	"github.com/mirroros/mirror/door"
)

func TestParseEmbeddings(t *testing.T) {
	cases := []struct {
		body   string
		model  string
		input  []string
		base64 bool
	}{
		{`{"model":"text-embedding-3-small","input":"hello"}`, "text-embedding-3-small", []string{"hello"}, false},
		{`{"model":"m","input":["a","b"],"encoding_format":"float","user":"u"}`, "m", []string{"a", "b"}, false},
		// openai-python and openai-node ask for base64 unless told otherwise.
		{`{"input":["a"],"model":"m","encoding_format":"base64"}`, "m", []string{"a"}, true},
		{`{"input":"a","model":"m","encoding_format":null,"dimensions":null}`, "m", []string{"a"}, false},
	}
	for _, c := range cases {
		model, input, err := ParseEmbeddings([]byte(c.body))
		if err != nil || model != c.model || !reflect.DeepEqual(input, c.input) {
			t.Errorf("%s: %q %q %v", c.body, model, input, err)
		}
		r, err := ParseEmbeddingsRequest([]byte(c.body))
		if err != nil || r.Base64 != c.base64 {
			t.Errorf("%s: %+v %v", c.body, r, err)
		}
	}
	errCases := []struct{ body, want string }{
		{`{"model":"m","input":[1,2,3]}`, "token arrays are not supported"},
		{`{"model":"m","input":[[1,2],[3]]}`, "token arrays are not supported"},
		{`{"model":"m","input":["a",{}]}`, "input[1] must be a string"},
		{`{"model":"m","input":[]}`, "empty array"},
		{`{"model":"m","input":["a",""]}`, "input[1] must not be empty"},
		{`{"model":"m"}`, "input is required"},
		{`{"model":"m","input":7}`, "input must be a string or an array of strings"},
		{`{"input":"a"}`, "model is required"},
		{`{"model":"m","input":"a","encoding_format":"int8"}`, "encoding_format"},
		{`{"model":"m","input":"a","dimensions":256}`, "dimensions is not supported"},
		{`{"model":"m","input":"a"`, "not valid JSON"},
	}
	for _, c := range errCases {
		_, _, err := ParseEmbeddings([]byte(c.body))
		var de *door.Error
		if !errors.As(err, &de) || de.Status != 400 || !strings.Contains(de.Message, c.want) {
			t.Errorf("%s: err = %v, want 400 %q", c.body, err, c.want)
		}
	}
}

func TestWriteEmbeddings(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteEmbeddings(rec, "alias", [][]float32{{0.5, -1}, {0.25, float32(math.NaN())}}, bus.Usage{PromptTokens: 8})
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"object": "list",
		"model":  "alias",
		"data": []any{
			map[string]any{"object": "embedding", "index": 0.0, "embedding": []any{0.5, -1.0}},
			map[string]any{"object": "embedding", "index": 1.0, "embedding": []any{0.25, 0.0}},
		},
		"usage": map[string]any{"prompt_tokens": 8.0, "total_tokens": 8.0},
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// Both encodings decode back to the same vectors in the module's own
// OpenAI adapter (which, like the SDKs, accepts floats or base64).
func TestEmbeddingsThroughAdapter(t *testing.T) {
	want := [][]float32{{0.1, 0.2, -0.3}, {1e-7, 42}}
	for _, b64 := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			req, err := ParseEmbeddingsRequest(body)
			if err != nil {
				WriteError(w, 400, "invalid_request", err.Error())
				return
			}
			if len(req.Input) != len(want) {
				WriteError(w, 400, "invalid_request", "wrong input count")
				return
			}
			if b64 {
				WriteEmbeddingsBase64(w, req.Model, want, bus.Usage{PromptTokens: 5})
			} else {
				WriteEmbeddings(w, req.Model, want, bus.Usage{PromptTokens: 5})
			}
		}))
		p := busopenai.New(busopenai.Config{BaseURL: srv.URL})
		got, usage, err := p.Embed(context.Background(), "m", []string{"a", "b"})
		srv.Close()
		if err != nil || !reflect.DeepEqual(got, want) || usage.PromptTokens != 5 {
			t.Fatalf("base64=%v: %v %+v %v", b64, got, usage, err)
		}
	}
}
