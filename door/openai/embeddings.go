package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// EmbeddingsRequest is a parsed POST /v1/embeddings body.
type EmbeddingsRequest struct {
	Model string
	Input []string
	// Base64 is encoding_format "base64": the vectors are to be written
	// with WriteEmbeddingsBase64. The official Python and Node SDKs ask
	// for it by default.
	Base64 bool
}

// ParseEmbeddings decodes a POST /v1/embeddings body: model, and input as
// a string or an array of strings. Token arrays, empty inputs and
// "dimensions" (which the bus cannot pass on) are refused with a
// *door.Error 400.
func ParseEmbeddings(body []byte) (model string, input []string, err error) {
	r, err := ParseEmbeddingsRequest(body)
	if err != nil {
		return "", nil, err
	}
	return r.Model, r.Input, nil
}

// ParseEmbeddingsRequest is ParseEmbeddings that also reports the
// requested encoding_format.
func ParseEmbeddingsRequest(body []byte) (EmbeddingsRequest, error) {
	top, err := topLevel(body)
	if err != nil {
		return EmbeddingsRequest{}, err
	}
	var r EmbeddingsRequest
	if err := decodeField(top, "model", &r.Model); err != nil {
		return EmbeddingsRequest{}, err
	}
	r.Model = strings.TrimSpace(r.Model)
	if r.Model == "" {
		return EmbeddingsRequest{}, door.Invalid("model is required")
	}
	raw, ok := present(top, "input")
	if !ok {
		return EmbeddingsRequest{}, door.Invalid("input is required")
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := decodeInto("input", raw, &s); err != nil {
			return EmbeddingsRequest{}, err
		}
		r.Input = []string{s}
	case '[':
		var items []json.RawMessage
		if err := decodeInto("input", raw, &items); err != nil {
			return EmbeddingsRequest{}, err
		}
		if len(items) == 0 {
			return EmbeddingsRequest{}, door.Invalid("input must not be an empty array")
		}
		for i, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) == 0 || it[0] != '"' {
				if len(it) > 0 && (it[0] == '[' || it[0] == '-' || (it[0] >= '0' && it[0] <= '9')) {
					return EmbeddingsRequest{}, door.Invalid("input: token arrays are not supported; send text (a string or an array of strings)")
				}
				return EmbeddingsRequest{}, door.Invalid(fmt.Sprintf("input[%d] must be a string", i))
			}
			var s string
			if err := decodeInto(fmt.Sprintf("input[%d]", i), it, &s); err != nil {
				return EmbeddingsRequest{}, err
			}
			r.Input = append(r.Input, s)
		}
	default:
		return EmbeddingsRequest{}, door.Invalid("input must be a string or an array of strings")
	}
	for i, s := range r.Input {
		if s == "" {
			return EmbeddingsRequest{}, door.Invalid(fmt.Sprintf("input[%d] must not be empty", i))
		}
	}
	var format string
	if err := decodeField(top, "encoding_format", &format); err != nil {
		return EmbeddingsRequest{}, err
	}
	switch format {
	case "", "float":
	case "base64":
		r.Base64 = true
	default:
		return EmbeddingsRequest{}, door.Invalid(fmt.Sprintf(`encoding_format: unknown value %q (expected "float" or "base64")`, format))
	}
	if _, ok := present(top, "dimensions"); ok {
		return EmbeddingsRequest{}, door.Invalid("dimensions is not supported by this server")
	}
	return r, nil
}

type outEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type outEmbeddings struct {
	Object string         `json:"object"`
	Data   []outEmbedding `json:"data"`
	Model  string         `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// WriteEmbeddings writes {"object":"list","data":[{"object":"embedding",
// "index","embedding":[floats]}],"model","usage":{prompt_tokens,total_tokens}}.
func WriteEmbeddings(w http.ResponseWriter, model string, vecs [][]float32, usage bus.Usage) {
	writeEmbeddings(w, model, vecs, usage, false)
}

// WriteEmbeddingsBase64 is WriteEmbeddings with each embedding written as
// base64 of its little-endian float32s (encoding_format "base64").
func WriteEmbeddingsBase64(w http.ResponseWriter, model string, vecs [][]float32, usage bus.Usage) {
	writeEmbeddings(w, model, vecs, usage, true)
}

func writeEmbeddings(w http.ResponseWriter, model string, vecs [][]float32, usage bus.Usage, b64 bool) {
	out := outEmbeddings{Object: "list", Model: model, Data: make([]outEmbedding, len(vecs))}
	for i, v := range vecs {
		var emb any
		if b64 {
			buf := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		} else {
			clean := make([]float32, len(v))
			for j, f := range v {
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					f = 0 // JSON has no NaN; never fail the whole answer for one
				}
				clean[j] = f
			}
			emb = clean
		}
		out.Data[i] = outEmbedding{Object: "embedding", Index: i, Embedding: emb}
	}
	out.Usage.PromptTokens = usage.PromptTokens
	out.Usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	body := marshal(out)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
