package gemini

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mirroros/mirror/bus"
)

// Wire types of the Gemini generateContent API (v1beta).

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     []byte `json:"data"` // base64 on the wire
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type functionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type generateRequest struct {
	Contents          []content                  `json:"contents"`
	SystemInstruction *content                   `json:"systemInstruction,omitempty"`
	Tools             []tool                     `json:"tools,omitempty"`
	ToolConfig        *toolConfig                `json:"toolConfig,omitempty"`
	SafetySettings    json.RawMessage            `json:"safetySettings,omitempty"`
	CachedContent     json.RawMessage            `json:"cachedContent,omitempty"`
	GenerationConfig  map[string]json.RawMessage `json:"generationConfig,omitempty"`
}

type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type apiError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	Error          *apiError       `json:"error"` // in-band errors on a stream
}

type modelInfo struct {
	Name                       string   `json:"name"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

type listModelsResponse struct {
	Models        []modelInfo `json:"models"`
	NextPageToken string      `json:"nextPageToken"`
}

// requestError is a problem with the caller's request found before sending.
type requestError string

func (e requestError) Error() string { return string(e) }

// buildRequest maps a normalised request onto the Gemini wire shape.
func buildRequest(req bus.Request) (*generateRequest, error) {
	out := &generateRequest{Contents: []content{}}

	var system []string
	if req.System != "" {
		system = append(system, req.System)
	}
	// Tool names by call id, for Tool messages that lack a Name.
	names := map[string]string{}
	for _, m := range req.Messages {
		for _, c := range m.ToolCalls {
			names[c.ID] = c.Name
		}
	}

	for i, m := range req.Messages {
		switch m.Role {
		case bus.System:
			if t := m.Text(); t != "" {
				system = append(system, t)
			}
		case bus.User, bus.Assistant:
			role := "user"
			if m.Role == bus.Assistant {
				role = "model"
			}
			c := content{Role: role, Parts: []part{}}
			for _, p := range m.Content {
				wp, err := mapPart(p)
				if err != nil {
					return nil, fmt.Errorf("message %d: %w", i, err)
				}
				if wp != nil {
					c.Parts = append(c.Parts, *wp)
				}
			}
			if m.Role == bus.Assistant {
				for _, tc := range m.ToolCalls {
					args, err := objectArgs(tc.Arguments)
					if err != nil {
						return nil, fmt.Errorf("message %d: tool call %q: %w", i, tc.Name, err)
					}
					c.Parts = append(c.Parts, part{FunctionCall: &functionCall{Name: tc.Name, Args: args}})
				}
			}
			if len(c.Parts) == 0 {
				continue
			}
			out.Contents = append(out.Contents, c)
		case bus.Tool:
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			if name == "" {
				return nil, requestError(fmt.Sprintf("message %d: tool result without a tool name", i))
			}
			fr := part{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(m.Text())}}
			// Results of parallel calls travel together in one user turn.
			if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == "user" && allFunctionResponses(out.Contents[n-1].Parts) {
				out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, fr)
			} else {
				out.Contents = append(out.Contents, content{Role: "user", Parts: []part{fr}})
			}
		default:
			return nil, requestError(fmt.Sprintf("message %d: unknown role %q", i, m.Role))
		}
	}

	if len(system) > 0 {
		out.SystemInstruction = &content{Parts: []part{{Text: strings.Join(system, "\n\n")}}}
	}

	if len(req.Tools) > 0 {
		decls := make([]functionDeclaration, 0, len(req.Tools))
		for _, t := range req.Tools {
			decls = append(decls, functionDeclaration{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
		}
		out.Tools = []tool{{FunctionDeclarations: decls}}
	}
	switch req.ToolChoice {
	case "":
	case "auto":
		out.ToolConfig = &toolConfig{functionCallingConfig{Mode: "AUTO"}}
	case "none":
		out.ToolConfig = &toolConfig{functionCallingConfig{Mode: "NONE"}}
	case "required":
		out.ToolConfig = &toolConfig{functionCallingConfig{Mode: "ANY"}}
	default:
		out.ToolConfig = &toolConfig{functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{req.ToolChoice}}}
	}

	// Vendor extras: only fields of this protocol pass through.
	gen := map[string]json.RawMessage{}
	if raw, ok := req.Extra["generationConfig"]; ok {
		if err := json.Unmarshal(raw, &gen); err != nil {
			return nil, requestError("extra generationConfig is not a JSON object")
		}
		if gen == nil {
			gen = map[string]json.RawMessage{}
		}
	}
	if raw, ok := req.Extra["safetySettings"]; ok && json.Valid(raw) {
		out.SafetySettings = raw
	}
	if raw, ok := req.Extra["cachedContent"]; ok && json.Valid(raw) {
		out.CachedContent = raw
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		gen[k] = b
	}
	if req.MaxTokens > 0 {
		set("maxOutputTokens", req.MaxTokens)
	}
	if req.Temperature != nil {
		set("temperature", *req.Temperature)
	}
	if req.TopP != nil {
		set("topP", *req.TopP)
	}
	if len(req.Stop) > 0 {
		set("stopSequences", req.Stop)
	}
	if len(gen) > 0 {
		out.GenerationConfig = gen
	}
	return out, nil
}

func mapPart(p bus.Part) (*part, error) {
	switch p.Type {
	case bus.TextPart:
		if p.Text == "" {
			return nil, nil
		}
		return &part{Text: p.Text}, nil
	case bus.ImagePart:
		if len(p.Data) > 0 {
			if p.MediaType == "" {
				return nil, requestError("image without a media type")
			}
			return &part{InlineData: &blob{MimeType: p.MediaType, Data: p.Data}}, nil
		}
		if p.URL != "" {
			return &part{FileData: &fileData{MimeType: p.MediaType, FileURI: p.URL}}, nil
		}
		return nil, requestError("image without data or URL")
	case bus.VendorPart:
		return nil, nil // another vendor's block (e.g. Anthropic thinking): not for Gemini
	default:
		return nil, requestError(fmt.Sprintf("unknown part type %q", p.Type))
	}
}

func allFunctionResponses(ps []part) bool {
	for _, p := range ps {
		if p.FunctionResponse == nil {
			return false
		}
	}
	return len(ps) > 0
}

// objectArgs checks that tool call arguments are a JSON object ({} when empty).
func objectArgs(raw json.RawMessage) (json.RawMessage, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, requestError("arguments are not a JSON object")
	}
	return raw, nil
}

// toolResponse makes a functionResponse.response object from a tool's text:
// a JSON object passes as is, anything else is wrapped as {"content": text}.
func toolResponse(text string) json.RawMessage {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &obj); err == nil && obj != nil {
		return json.RawMessage(text)
	}
	b, _ := json.Marshal(map[string]string{"content": text})
	return b
}

// mapFinish maps a Gemini finishReason to a bus stop reason.
func mapFinish(reason string, toolCalls bool) bus.StopReason {
	switch reason {
	case "STOP", "":
		if toolCalls {
			return bus.StopToolUse
		}
		return bus.StopEnd
	case "MAX_TOKENS":
		return bus.StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return bus.StopFiltered
	default:
		return bus.StopOther
	}
}

func mapUsage(u *usageMetadata) bus.Usage {
	if u == nil {
		return bus.Usage{}
	}
	// cachedContentTokenCount is already included in promptTokenCount;
	// thinking tokens are billed as output.
	return bus.Usage{
		PromptTokens:     u.PromptTokenCount,
		CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedTokens:     u.CachedContentTokenCount,
	}
}

// parseChunk decodes one SSE data payload (or a whole generateContent body).
func parseChunk(data []byte) (*generateResponse, error) {
	var r generateResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
