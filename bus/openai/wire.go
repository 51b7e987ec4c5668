package openai

import (
	"encoding/json"
	"strings"
)

// Wire shapes of the OpenAI chat-completions protocol, as spoken by OpenAI
// and the servers that copy it (Groq, Mistral, DeepSeek, OpenRouter, vLLM,
// llama.cpp server, LM Studio).

type wireRequest struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	Tools               []wireTool      `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	MaxTokens           int             `json:"max_tokens,omitempty"`
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                []string        `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *streamOptions  `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireMessage is a request message. Content is a JSON string, an array of
// content parts, or null (an assistant turn holding only tool calls).
type wireMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []wireToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type wireContentPart struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	ImageURL *wireImageURL `json:"image_url,omitempty"`
}

type wireImageURL struct {
	URL string `json:"url"`
}

type wireTool struct {
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// wireToolCall is a tool call in a request, a response or a stream delta
// (where Index says which call a fragment belongs to).
type wireToolCall struct {
	Index    *int             `json:"index,omitempty"`
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function wireFunctionCall `json:"function"`
}

type wireFunctionCall struct {
	Name      string    `json:"name,omitempty"`
	Arguments argString `json:"arguments"`
}

// argString is function.arguments: a string holding JSON on the wire. A few
// servers send a JSON object instead; it is accepted as its own text.
type argString string

func (a *argString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = argString(s)
		return nil
	}
	if string(b) == "null" {
		*a = ""
		return nil
	}
	*a = argString(b)
	return nil
}

// wireResponse is both a chat.completion object and a chat.completion.chunk.
type wireResponse struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Model   string          `json:"model"`
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error,omitempty"` // some servers report mid-stream failures so
}

type wireChoice struct {
	Index        int          `json:"index"`
	Message      *wireRespMsg `json:"message,omitempty"` // chat.completion
	Delta        *wireRespMsg `json:"delta,omitempty"`   // chat.completion.chunk
	FinishReason *string      `json:"finish_reason"`
}

type wireRespMsg struct {
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	Refusal   *string         `json:"refusal,omitempty"`
	ToolCalls []wireToolCall  `json:"tool_calls,omitempty"`
}

type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens,omitempty"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
	// DeepSeek reports its context cache this way; the hits are included in
	// prompt_tokens there too.
	PromptCacheHitTokens int `json:"prompt_cache_hit_tokens,omitempty"`
}

type wireModels struct {
	Data []struct {
		ID            string `json:"id"`
		ContextLength int    `json:"context_length"` // OpenRouter
		MaxModelLen   int    `json:"max_model_len"`  // vLLM
	} `json:"data"`
}

type wireEmbeddingRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type wireEmbeddingResponse struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"` // array of floats, or base64 of little-endian float32
	} `json:"data"`
	Model string     `json:"model"`
	Usage *wireUsage `json:"usage"`
}

// wireErrorBody is {"error":{"message","type","code"}}; some servers send
// {"error":"text"} or {"message":"text"} or {"detail":"text"} instead.
type wireErrorBody struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

type wireError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"` // a string at OpenAI, a number elsewhere
}

// parseErrorBody extracts the provider's message and type from an error body.
func parseErrorBody(b []byte) (msg, typ string) {
	var body wireErrorBody
	if json.Unmarshal(b, &body) != nil {
		return strings.TrimSpace(string(b)), ""
	}
	if len(body.Error) > 0 && string(body.Error) != "null" {
		var we wireError
		if json.Unmarshal(body.Error, &we) == nil {
			if we.Type == "" && len(we.Code) > 0 {
				var code string
				if json.Unmarshal(we.Code, &code) == nil {
					we.Type = code
				}
			}
			return we.Message, we.Type
		}
		var s string
		if json.Unmarshal(body.Error, &s) == nil {
			return s, ""
		}
	}
	if body.Message != "" {
		return body.Message, ""
	}
	if len(body.Detail) > 0 {
		var s string
		if json.Unmarshal(body.Detail, &s) == nil {
			return s, ""
		}
		return string(body.Detail), ""
	}
	return strings.TrimSpace(string(b)), ""
}

// contentText returns the text of a response message's content: a string,
// null, or an array of parts of which the "text" ones count.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if raw[0] == '"' {
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	for _, p := range parts {
		if p.Type == "text" || p.Type == "output_text" {
			s += p.Text
		}
	}
	return s, nil
}
