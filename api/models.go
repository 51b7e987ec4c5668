package api

import (
	"net/http"
	"time"

	"github.com/mirroros/mirror/kernel"
)

// openAIModel is one entry of an OpenAI-style model list; the fields after
// owned_by are MirrorOS's own, which OpenAI clients ignore.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	kernel.ModelInfo
}

// models answers GET /v1/models in the OpenAI list shape: every model the
// bus can route to, as provider/model, plus the configured aliases.
// ?refresh=1 asks the providers again now.
func (s *Server) models(w http.ResponseWriter, r *http.Request) error {
	ms, errs := s.sys.Models(r.Context(), r.URL.Query().Get("refresh") != "")
	data := make([]openAIModel, 0, len(ms))
	for _, m := range ms {
		data = append(data, openAIModel{ID: m.ID, Object: "model", OwnedBy: m.Provider, ModelInfo: m})
	}
	for alias := range s.sys.Config.Aliases {
		data = append(data, openAIModel{ID: alias, Object: "model", OwnedBy: "mirroros", ModelInfo: kernel.ModelInfo{ID: alias, Provider: "alias"}})
	}
	if errs == nil {
		errs = map[string]string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "unavailable": errs})
	return nil
}

// spend answers GET /v1/spend?by=lease|model|day&since=24h.
func (s *Server) spend(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	by := q.Get("by")
	if by == "" {
		by = "model"
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v, time.Now())
		if err != nil {
			return err
		}
		since = t
	}
	rows, err := s.sys.Spend(r.Context(), by, since)
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_parameter", err.Error())
	}
	if rows == nil {
		rows = []kernel.SpendRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"by": by, "rows": rows})
	return nil
}
