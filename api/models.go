package api

import (
	"net/http"

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
