package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
)

// answer is the fake upstream's fixed completion; the streamed one is the
// same text in streamPieces.
const answer = "Hello from the bench."

var streamPieces = []string{"Hello ", "from ", "the bench."}

// server is an http.Server on 127.0.0.1:0 that Close shuts down.
type server struct {
	name string
	url  string
	srv  *http.Server
	ln   net.Listener
	errc chan error
}

func serve(name string, h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, url: "http://" + ln.Addr().String(), ln: ln, errc: make(chan error, 1),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { s.errc <- s.srv.Serve(ln) }()
	return s, nil
}

// Close waits for the server's requests to finish. Its clients must have
// closed their idle connections first: a connection that was dialed but
// never carried a request keeps Shutdown waiting for five seconds.
func (s *server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
		err = fmt.Errorf("shut down %s: %w", s.name, err)
	}
	if serr := <-s.errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// fakeUpstream is an OpenAI-compatible chat-completions server answering a
// fixed short completion, whole or as an SSE stream of a role chunk, a few
// content deltas, a finish chunk, a usage chunk and [DONE].
func fakeUpstream(model string) http.Handler {
	mux := http.NewServeMux()
	modelsBody := fmt.Sprintf(`{"object":"list","data":[{"id":%q,"object":"model","created":1767225600,"owned_by":"bench"}]}`, model)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, modelsBody)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"invalid JSON","type":"invalid_request_error"}}`)
			return
		}
		if req.Model == "" {
			req.Model = model
		}
		created := time.Now().Unix()
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-bench","object":"chat.completion","created":%d,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}`,
				created, req.Model, answer)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		chunk := func(delta, finish string) {
			f := "null"
			if finish != "" {
				f = fmt.Sprintf("%q", finish)
			}
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\n\n",
				created, req.Model, delta, f)
			rc.Flush()
		}
		chunk(`{"role":"assistant","content":""}`, "")
		for _, p := range streamPieces {
			chunk(fmt.Sprintf(`{"content":%q}`, p), "")
		}
		chunk(`{}`, "stop")
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":%d,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}\n\n", created, req.Model)
		io.WriteString(w, "data: [DONE]\n\n")
		rc.Flush()
	})
	return mux
}

// newProxy is a bare reverse proxy to the upstream with a transport of its
// own (the default transport's settings), which the caller closes.
func newProxy(upstream string) (*httputil.ReverseProxy, *http.Transport, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rp.Transport = tr
	return rp, tr, nil
}

// governedKernel is a real MirrorOS kernel on a temporary data directory
// whose only routed model is the fake upstream.
type governedKernel struct {
	sys   *kernel.System
	srv   *server
	dir   string
	token string
}

// kernelConfig is the config.toml the kernel runs with.
func kernelConfig(upstream, model string) string {
	return fmt.Sprintf(`[log]
level = "error"

[[providers]]
name = "bench"
kind = "openai"
base_url = %q
local = true

[aliases]
default = ["bench/%s"]
`, upstream+"/v1", model)
}

func startKernel(ctx context.Context, upstream, model string) (*governedKernel, error) {
	dir, err := os.MkdirTemp("", "mirror-bench-")
	if err != nil {
		return nil, err
	}
	text := kernelConfig(upstream, model)
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte(text), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sys, err := kernel.Open(ctx, dir, cfg, kernel.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("kernel: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	if err != nil {
		sys.Close(ctx)
		os.RemoveAll(dir)
		return nil, err
	}
	srv, err := serve("kernel", api.New(sys))
	if err != nil {
		sys.Close(ctx)
		os.RemoveAll(dir)
		return nil, err
	}
	return &governedKernel{sys: sys, srv: srv, dir: dir, token: strings.TrimSpace(string(raw))}, nil
}

// Close stops the front door, then the kernel (which waits for the pending
// outcome entries), and removes the data directory.
func (g *governedKernel) Close() error {
	err := g.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = errors.Join(err, g.sys.Close(ctx))
	return errors.Join(err, os.RemoveAll(g.dir))
}

// requestBody is what every target is sent.
func requestBody(model string, stream bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"model":%q,"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16`, model)
	if stream {
		b.WriteString(`,"stream":true`)
	}
	b.WriteString("}")
	return b.Bytes()
}
