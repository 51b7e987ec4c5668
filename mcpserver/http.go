package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverKey carries the server built for one HTTP request.
type serverKey struct{}

// HTTPHandler serves MCP over the streamable HTTP transport. backendFor
// authenticates each HTTP request (typically by its Authorization: Bearer
// lease token) and returns the backend bound to that caller; an error
// answers 401 with a JSON error body, or the status and code of an
// *APIError.
//
// The handler is stateless: it keeps no MCP sessions, and every request
// is served by a server built for it over the backend of the token it
// carries. A caller therefore never acts under another request's lease,
// and a client that changes its token acts under the new one from its next
// request. GET (server-to-client streams) and DELETE are answered 405, as
// the transport allows for servers without sessions.
func HTTPHandler(backendFor func(r *http.Request) (Backend, error)) http.Handler {
	version := buildVersion()
	mh := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		s, _ := r.Context().Value(serverKey{}).(*mcp.Server)
		return s
	}, &mcp.StreamableHTTPOptions{Stateless: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := backendFor(r)
		if err == nil && b == nil {
			err = errors.New("no backend for this caller")
		}
		if err != nil {
			writeAuthError(w, err)
			return
		}
		ctx := context.WithValue(r.Context(), serverKey{}, New(b, version))
		mh.ServeHTTP(w, r.WithContext(ctx))
	})
}

// writeAuthError answers a request whose caller could not be authenticated.
func writeAuthError(w http.ResponseWriter, err error) {
	e := &APIError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: err.Error()}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status <= 599 {
		e = &APIError{Status: ae.Status, Code: ae.Code, Message: ae.Message}
		if e.Code == "" {
			e.Code = "unauthorized"
		}
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mirror"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

// buildVersion is the version of the binary, from its build information.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
