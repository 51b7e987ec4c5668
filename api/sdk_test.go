package api_test

// Real-client tests: the official OpenAI, Anthropic and Ollama Go SDKs are
// pointed at the kernel's front doors (base URL + the owner token as the
// API key) and must parse every answer — whole, streamed, tool calls and
// errors — as they would a vendor's. The SDKs are test-only dependencies:
// cmd/mirror's TestLinkedModules keeps them out of the binary.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
)

const (
	sdkModel       = "ollama/llama3.2"
	sdkHello       = "Hello from the bus."
	sdkWeather     = "sunny, 21C"
	sdkWeatherText = "The weather in Paris: " + sdkWeather + "."
)

// sdkUpstream is a fake local Ollama that can call a tool: with tools in
// the request and no tool result yet it asks for get_weather{"city":"Paris"};
// with a tool result it answers with that result; otherwise it says
// "Hello from the bus." (in two pieces when streaming). A model other than
// llama3.2 gets Ollama's 404. It records every /api/chat request answered.
type sdkUpstream struct {
	mu      sync.Mutex
	reqs    []sdkUpstreamRequest
	unknown int // requests for a model other than llama3.2, answered 404
}

type sdkUpstreamRequest struct {
	Model    string `json:"model"`
	Stream   *bool  `json:"stream"`
	Messages []struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		ToolName  string `json:"tool_name"`
		ToolCalls []struct {
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func (u *sdkUpstream) requests() []sdkUpstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]sdkUpstreamRequest(nil), u.reqs...)
}

func (u *sdkUpstream) last(t *testing.T) sdkUpstreamRequest {
	t.Helper()
	rs := u.requests()
	if len(rs) == 0 {
		t.Fatal("the upstream was never called")
	}
	return rs[len(rs)-1]
}

func (u *sdkUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/tags":
		w.Write([]byte(`{"models":[{"name":"llama3.2","model":"llama3.2"}]}`))
		return
	case "/api/chat":
	default:
		http.NotFound(w, r)
		return
	}
	var req sdkUpstreamRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	if req.Model != "llama3.2" {
		// What Ollama answers for a model it does not have.
		u.mu.Lock()
		u.unknown++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf("model %q not found, try pulling it first", req.Model)})
		w.Write(b)
		return
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, req)
	u.mu.Unlock()
	stream := req.Stream != nil && *req.Stream

	toolResult, hasResult := "", false
	for _, m := range req.Messages {
		if m.Role == "tool" {
			toolResult, hasResult = m.Content, true
		}
	}
	msg := func(content, extra string) string {
		return fmt.Sprintf(`{"role":"assistant","content":%q%s}`, content, extra)
	}
	chunk := func(message string, done bool) string {
		if done {
			return fmt.Sprintf(`{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":%s,"done":true,"done_reason":"stop","prompt_eval_count":7,"eval_count":5}`, req.Model, message)
		}
		return fmt.Sprintf(`{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":%s,"done":false}`, req.Model, message)
	}
	var pieces []string // the answer's messages, streamed one a line
	switch {
	case hasResult:
		text := "The weather in Paris: " + toolResult + "."
		pieces = []string{msg(text[:12], ""), msg(text[12:], "")}
	case len(req.Tools) > 0:
		pieces = []string{msg("", `,"tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]`)}
	default:
		pieces = []string{msg("Hello from ", ""), msg("the bus.", "")}
	}
	if stream {
		for _, p := range pieces {
			fmt.Fprintln(w, chunk(p, false))
		}
		fmt.Fprintln(w, chunk(msg("", ""), true))
		return
	}
	// Whole: one message with the pieces joined.
	var whole struct {
		Role      string          `json:"role"`
		Content   string          `json:"content"`
		ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
	}
	for _, p := range pieces {
		var m struct {
			Content   string          `json:"content"`
			ToolCalls json.RawMessage `json:"tool_calls"`
		}
		json.Unmarshal([]byte(p), &m)
		whole.Content += m.Content
		if len(m.ToolCalls) > 0 {
			whole.ToolCalls = m.ToolCalls
		}
	}
	whole.Role = "assistant"
	b, _ := json.Marshal(whole)
	fmt.Fprintln(w, chunk(string(b), true))
}

type sdkEnv struct {
	url, token string
	upstream   *sdkUpstream
}

// newSDKEnv runs a kernel whose only model is the fake Ollama above, and
// clears every environment variable the SDKs would read on their own.
func newSDKEnv(t *testing.T) *sdkEnv {
	up := &sdkUpstream{}
	ol := httptest.NewServer(up)
	t.Cleanup(ol.Close)
	t.Setenv("OLLAMA_HOST", ol.URL)
	for _, k := range []string{
		"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY",
		"OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_WEBHOOK_SECRET",
		"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
		"OLLAMA_AUTH",
	} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	cfg.Aliases = map[string][]string{"default": {sdkModel}}
	dir := t.TempDir()
	sys, err := kernel.Open(context.Background(), dir, cfg, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(sys))
	t.Cleanup(func() { srv.Close(); sys.Close(context.Background()) })
	raw, err := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return &sdkEnv{url: srv.URL, token: strings.TrimSpace(string(raw)), upstream: up}
}

func sdkCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *sdkEnv) openai(key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(e.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &c
}

func (e *sdkEnv) anthropic(key string) *anthropic.Client {
	c := anthropic.NewClient(anthropicoption.WithBaseURL(e.url+"/"), anthropicoption.WithAPIKey(key),
		anthropicoption.WithMaxRetries(0), anthropicoption.WithoutOpenTelemetry())
	return &c
}

// bearerTransport adds the lease token the way an Ollama client behind an
// authenticating proxy does (the SDK itself signs only for ollama.com).
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func (e *sdkEnv) ollama(t *testing.T, key string) *ollama.Client {
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	return ollama.NewClient(u, &http.Client{Transport: bearerTransport{key}})
}

// ---- tool definitions, one per SDK ----

var weatherSchema = map[string]any{
	"type":       "object",
	"properties": map[string]any{"city": map[string]any{"type": "string"}},
	"required":   []string{"city"},
}

func openaiWeatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("The weather in a city"),
		Parameters:  shared.FunctionParameters(weatherSchema),
	})
}

func anthropicWeatherTool() anthropic.ToolUnionParam {
	return anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name:        "get_weather",
		Description: anthropic.String("The weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{
			Properties: weatherSchema["properties"],
			Required:   []string{"city"},
		},
	}}
}

// checkCity asserts that tool arguments are {"city":"Paris"}.
func checkCity(t *testing.T, args string) {
	t.Helper()
	var a struct{ City string }
	if err := json.Unmarshal([]byte(args), &a); err != nil || a.City != "Paris" {
		t.Fatalf("tool arguments %q, want {\"city\":\"Paris\"} (%v)", args, err)
	}
}

// checkToolResultUpstream asserts that the tool result reached the model
// as an Ollama tool message naming its tool.
func (e *sdkEnv) checkToolResultUpstream(t *testing.T) {
	t.Helper()
	last := e.upstream.last(t)
	for _, m := range last.Messages {
		if m.Role == "tool" {
			if m.Content != sdkWeather || m.ToolName != "get_weather" {
				t.Fatalf("upstream tool message %+v, want content %q from get_weather", m, sdkWeather)
			}
			return
		}
	}
	t.Fatalf("no tool message reached the upstream: %+v", last.Messages)
}

// ---- OpenAI chat completions ----

func TestSDKOpenAIChatCompletions(t *testing.T) {
	e := newSDKEnv(t)
	client := e.openai(e.token)
	ctx := sdkCtx(t)

	t.Run("whole", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: sdkModel,
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("Be brief."),
				openai.UserMessage("Say hello."),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != sdkHello || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("answer %s", resp.RawJSON())
		}
		if resp.Object != "chat.completion" || resp.ID == "" || resp.Model != sdkModel {
			t.Fatalf("envelope %s", resp.RawJSON())
		}
		if resp.Usage.PromptTokens != 7 || resp.Usage.CompletionTokens != 5 || resp.Usage.TotalTokens != 12 {
			t.Fatalf("usage %+v", resp.Usage)
		}
	})

	t.Run("streamed", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         sdkModel,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		var deltas []string
		finished := ""
		for stream.Next() {
			chunk := stream.Current()
			if !acc.AddChunk(chunk) {
				t.Fatalf("the accumulator refused chunk %s", chunk.RawJSON())
			}
			if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
				deltas = append(deltas, chunk.Choices[0].Delta.Content)
			}
			if c, ok := acc.JustFinishedContent(); ok {
				finished = c
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("the stream did not end cleanly: %v", err)
		}
		if strings.Join(deltas, "") != sdkHello || len(deltas) < 2 {
			t.Fatalf("deltas %q", deltas)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != sdkHello || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("accumulated %+v", acc.ChatCompletion.Choices)
		}
		if finished != sdkHello {
			t.Fatalf("JustFinishedContent %q", finished)
		}
		if acc.Usage.PromptTokens != 7 || acc.Usage.CompletionTokens != 5 {
			t.Fatalf("usage (include_usage) %+v", acc.Usage)
		}
	})

	t.Run("tool round trip, whole", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{
			Model:    sdkModel,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
			Tools:    []openai.ChatCompletionToolUnionParam{openaiWeatherTool()},
		}
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 1 || resp.Choices[0].FinishReason != "tool_calls" || len(resp.Choices[0].Message.ToolCalls) != 1 {
			t.Fatalf("no tool call: %s", resp.RawJSON())
		}
		tc := resp.Choices[0].Message.ToolCalls[0]
		if tc.Type != "function" || tc.ID == "" || tc.Function.Name != "get_weather" {
			t.Fatalf("tool call %s", tc.RawJSON())
		}
		checkCity(t, tc.Function.Arguments)
		if got := e.upstream.last(t).Tools; len(got) != 1 || got[0].Function.Name != "get_weather" {
			t.Fatalf("upstream tools %+v", got)
		}

		params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(), openai.ToolMessage(sdkWeather, tc.ID))
		resp, err = client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != sdkWeatherText || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("final answer %s", resp.RawJSON())
		}
		e.checkToolResultUpstream(t)
	})

	t.Run("tool round trip, streamed", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{
			Model:    sdkModel,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
			Tools:    []openai.ChatCompletionToolUnionParam{openaiWeatherTool()},
		}
		run := func() (openai.ChatCompletionAccumulator, []openai.FinishedChatCompletionToolCall) {
			t.Helper()
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			defer stream.Close()
			var acc openai.ChatCompletionAccumulator
			var calls []openai.FinishedChatCompletionToolCall
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the accumulator refused chunk %s", stream.Current().RawJSON())
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					calls = append(calls, tc)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("the stream did not end cleanly: %v", err)
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("accumulated %d choices", len(acc.Choices))
			}
			return acc, calls
		}
		acc, calls := run()
		msg := acc.Choices[0].Message
		if acc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 {
			t.Fatalf("no tool call: finish %q, message %+v", acc.Choices[0].FinishReason, msg)
		}
		tc := msg.ToolCalls[0]
		if tc.ID == "" || tc.Function.Name != "get_weather" {
			t.Fatalf("tool call %+v", tc)
		}
		checkCity(t, tc.Function.Arguments)
		if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].ID != tc.ID {
			t.Fatalf("JustFinishedToolCall gave %+v", calls)
		}

		params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(sdkWeather, tc.ID))
		acc, _ = run()
		if acc.Choices[0].Message.Content != sdkWeatherText || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("final answer %+v", acc.Choices[0])
		}
		e.checkToolResultUpstream(t)
	})
}

// ---- OpenAI Responses ----

func TestSDKOpenAIResponses(t *testing.T) {
	e := newSDKEnv(t)
	client := e.openai(e.token)
	ctx := sdkCtx(t)
	base := responses.ResponseNewParams{
		Model:        sdkModel,
		Instructions: openai.String("Be brief."),
		Store:        openai.Bool(false),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello.")},
	}

	t.Run("whole", func(t *testing.T) {
		resp, err := client.Responses.New(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OutputText() != sdkHello || resp.Status != responses.ResponseStatusCompleted || resp.ID == "" {
			t.Fatalf("response %s", resp.RawJSON())
		}
		if resp.Usage.InputTokens != 7 || resp.Usage.OutputTokens != 5 {
			t.Fatalf("usage %+v", resp.Usage)
		}
	})

	t.Run("streamed", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, base)
		defer stream.Close()
		var deltas strings.Builder
		var done string
		var final *responses.Response
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.output_text.done":
				done = ev.Text
			case "response.completed":
				r := ev.AsResponseCompleted().Response
				final = &r
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("the stream did not end cleanly: %v", err)
		}
		if deltas.String() != sdkHello || done != sdkHello {
			t.Fatalf("deltas %q, done %q", deltas.String(), done)
		}
		if final == nil || final.OutputText() != sdkHello || final.Status != responses.ResponseStatusCompleted {
			t.Fatalf("no completed response with the text: %+v", final)
		}
	})

	t.Run("function call round trip", func(t *testing.T) {
		params := base
		params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("What is the weather in Paris?", responses.EasyInputMessageRoleUser),
		}}
		params.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
			Name:        "get_weather",
			Description: openai.String("The weather in a city"),
			Parameters:  weatherSchema,
		}}}
		resp, err := client.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var call *responses.ResponseFunctionToolCall
		for _, item := range resp.Output {
			if item.Type == "function_call" {
				fc := item.AsFunctionCall()
				call = &fc
			}
		}
		if call == nil || call.Name != "get_weather" || call.CallID == "" {
			t.Fatalf("no function call: %s", resp.RawJSON())
		}
		checkCity(t, call.Arguments)

		params.Input.OfInputItemList = append(params.Input.OfInputItemList,
			responses.ResponseInputItemUnionParam{OfFunctionCall: &responses.ResponseFunctionToolCallParam{
				CallID: call.CallID, Name: call.Name, Arguments: call.Arguments}},
			responses.ResponseInputItemUnionParam{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: openai.String(call.CallID),
				Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(sdkWeather)}}},
		)
		resp, err = client.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OutputText() != sdkWeatherText {
			t.Fatalf("final answer %s", resp.RawJSON())
		}
		e.checkToolResultUpstream(t)
	})
}

// ---- Anthropic Messages ----

func TestSDKAnthropicMessages(t *testing.T) {
	e := newSDKEnv(t)
	client := e.anthropic(e.token)
	ctx := sdkCtx(t)
	hello := anthropic.MessageNewParams{
		Model:     sdkModel,
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello."))},
	}
	text := func(m *anthropic.Message) string {
		var b strings.Builder
		for _, c := range m.Content {
			if c.Type == "text" {
				b.WriteString(c.Text)
			}
		}
		return b.String()
	}
	stream := func(t *testing.T, params anthropic.MessageNewParams) *anthropic.Message {
		t.Helper()
		s := client.Messages.NewStreaming(ctx, params)
		defer s.Close()
		var m anthropic.Message
		var types []string
		for s.Next() {
			ev := s.Current()
			types = append(types, ev.Type)
			if err := m.Accumulate(ev); err != nil {
				t.Fatalf("accumulating %s: %v", ev.RawJSON(), err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("the stream did not end cleanly: %v (events %v)", err, types)
		}
		if len(types) < 3 || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
			t.Fatalf("events %v", types)
		}
		return &m
	}

	t.Run("whole", func(t *testing.T) {
		m, err := client.Messages.New(ctx, hello)
		if err != nil {
			t.Fatal(err)
		}
		if text(m) != sdkHello || m.StopReason != anthropic.StopReasonEndTurn || m.Role != "assistant" || m.ID == "" {
			t.Fatalf("message %s", m.RawJSON())
		}
		if m.Usage.InputTokens != 7 || m.Usage.OutputTokens != 5 {
			t.Fatalf("usage %s", m.Usage.RawJSON())
		}
	})

	t.Run("streamed", func(t *testing.T) {
		m := stream(t, hello)
		if text(m) != sdkHello || m.StopReason != anthropic.StopReasonEndTurn || m.ID == "" {
			t.Fatalf("accumulated %+v", m)
		}
		if m.Usage.OutputTokens != 5 {
			t.Fatalf("usage %+v", m.Usage)
		}
	})

	toolRoundTrip := func(t *testing.T, call func(*testing.T, anthropic.MessageNewParams) *anthropic.Message) {
		params := anthropic.MessageNewParams{
			Model:     sdkModel,
			MaxTokens: 1024,
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris?"))},
			Tools:     []anthropic.ToolUnionParam{anthropicWeatherTool()},
		}
		m := call(t, params)
		if m.StopReason != anthropic.StopReasonToolUse {
			t.Fatalf("stop reason %q: %+v", m.StopReason, m.Content)
		}
		var use *anthropic.ContentBlockUnion
		for i := range m.Content {
			if m.Content[i].Type == "tool_use" {
				use = &m.Content[i]
			}
		}
		if use == nil || use.Name != "get_weather" || use.ID == "" {
			t.Fatalf("no tool_use block: %+v", m.Content)
		}
		checkCity(t, string(use.Input))

		params.Messages = append(params.Messages, m.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, sdkWeather, false)))
		m = call(t, params)
		if text(m) != sdkWeatherText || m.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("final answer %+v", m)
		}
		e.checkToolResultUpstream(t)
	}
	t.Run("tool round trip, whole", func(t *testing.T) {
		toolRoundTrip(t, func(t *testing.T, p anthropic.MessageNewParams) *anthropic.Message {
			t.Helper()
			m, err := client.Messages.New(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			return m
		})
	})
	t.Run("tool round trip, streamed", func(t *testing.T) {
		toolRoundTrip(t, stream)
	})
}

// ---- Ollama ----

func TestSDKOllama(t *testing.T) {
	e := newSDKEnv(t)
	client := e.ollama(t, e.token)
	ctx := sdkCtx(t)

	t.Run("chat, streamed with a callback", func(t *testing.T) {
		var parts []string
		var last ollama.ChatResponse
		n := 0
		err := client.Chat(ctx, &ollama.ChatRequest{
			Model:    sdkModel,
			Messages: []ollama.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say hello."}},
		}, func(r ollama.ChatResponse) error {
			n++
			parts = append(parts, r.Message.Content)
			last = r
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 || strings.Join(parts, "") != sdkHello {
			t.Fatalf("%d callbacks, parts %q", n, parts)
		}
		if !last.Done || last.DoneReason != "stop" || last.EvalCount != 5 || last.PromptEvalCount != 7 {
			t.Fatalf("last chunk %+v", last)
		}
	})

	t.Run("chat, whole", func(t *testing.T) {
		stream := false
		var got []ollama.ChatResponse
		err := client.Chat(ctx, &ollama.ChatRequest{
			Model: sdkModel, Stream: &stream,
			Messages: []ollama.Message{{Role: "user", Content: "Say hello."}},
		}, func(r ollama.ChatResponse) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Message.Content != sdkHello || !got[0].Done {
			t.Fatalf("answers %+v", got)
		}
	})

	t.Run("tool round trip, streamed", func(t *testing.T) {
		props := ollama.NewToolPropertiesMap()
		props.Set("city", ollama.ToolProperty{Type: ollama.PropertyType{"string"}})
		req := &ollama.ChatRequest{
			Model:    sdkModel,
			Messages: []ollama.Message{{Role: "user", Content: "What is the weather in Paris?"}},
			Tools: ollama.Tools{{Type: "function", Function: ollama.ToolFunction{
				Name: "get_weather", Description: "The weather in a city",
				Parameters: ollama.ToolFunctionParameters{Type: "object", Required: []string{"city"}, Properties: props},
			}}},
		}
		chat := func() ollama.Message {
			t.Helper()
			var m ollama.Message
			var last ollama.ChatResponse
			if err := client.Chat(ctx, req, func(r ollama.ChatResponse) error {
				m.Role = r.Message.Role
				m.Content += r.Message.Content
				m.ToolCalls = append(m.ToolCalls, r.Message.ToolCalls...)
				last = r
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !last.Done {
				t.Fatalf("the stream ended without done: %+v", last)
			}
			return m
		}
		m := chat()
		if len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != "get_weather" {
			t.Fatalf("no tool call: %+v", m)
		}
		checkCity(t, m.ToolCalls[0].Function.Arguments.String())

		req.Messages = append(req.Messages, m, ollama.Message{Role: "tool", Content: sdkWeather, ToolName: "get_weather", ToolCallID: m.ToolCalls[0].ID})
		m = chat()
		if m.Content != sdkWeatherText || len(m.ToolCalls) != 0 {
			t.Fatalf("final answer %+v", m)
		}
		e.checkToolResultUpstream(t)
	})

	t.Run("list", func(t *testing.T) {
		list, err := client.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range list.Models {
			if m.Name == sdkModel || m.Model == sdkModel {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s not in %+v", sdkModel, list.Models)
		}
	})

	t.Run("version", func(t *testing.T) {
		if v, err := client.Version(ctx); err != nil || v == "" {
			t.Fatalf("version %q, %v", v, err)
		}
	})
}

// ---- errors through the SDKs ----

func TestSDKErrors(t *testing.T) {
	e := newSDKEnv(t)
	ctx := sdkCtx(t)
	chat := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")}}
	}
	msg := func(model string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello."))}}
	}
	openaiStatus := func(t *testing.T, err error, want int) *openai.Error {
		t.Helper()
		var apierr *openai.Error
		if !errors.As(err, &apierr) {
			t.Fatalf("want *openai.Error %d, got %T %v", want, err, err)
		}
		if apierr.StatusCode != want {
			t.Fatalf("status %d, want %d: %s", apierr.StatusCode, want, apierr.RawJSON())
		}
		return apierr
	}
	anthropicStatus := func(t *testing.T, err error, want int) *anthropic.Error {
		t.Helper()
		var apierr *anthropic.Error
		if !errors.As(err, &apierr) {
			t.Fatalf("want *anthropic.Error %d, got %T %v", want, err, err)
		}
		if apierr.StatusCode != want {
			t.Fatalf("status %d, want %d: %s", apierr.StatusCode, want, apierr.RawJSON())
		}
		return apierr
	}

	t.Run("openai bad key", func(t *testing.T) {
		_, err := e.openai("mos_nope").Chat.Completions.New(ctx, chat(sdkModel))
		apierr := openaiStatus(t, err, http.StatusUnauthorized)
		if apierr.Type != "authentication_error" || apierr.Message == "" {
			t.Fatalf("error body %s", apierr.RawJSON())
		}
	})
	t.Run("openai bad key, streamed", func(t *testing.T) {
		s := e.openai("mos_nope").Chat.Completions.NewStreaming(ctx, chat(sdkModel))
		defer s.Close()
		for s.Next() {
			t.Fatalf("a chunk on a refused stream: %s", s.Current().RawJSON())
		}
		openaiStatus(t, s.Err(), http.StatusUnauthorized)
	})
	t.Run("openai responses bad key", func(t *testing.T) {
		_, err := e.openai("mos_nope").Responses.New(ctx, responses.ResponseNewParams{Model: sdkModel,
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello.")}})
		openaiStatus(t, err, http.StatusUnauthorized)
	})
	t.Run("openai unknown model", func(t *testing.T) {
		_, err := e.openai(e.token).Chat.Completions.New(ctx, chat("nope/never"))
		apierr := openaiStatus(t, err, http.StatusNotFound)
		if apierr.Code != "model_not_found" {
			t.Fatalf("error body %s", apierr.RawJSON())
		}
	})
	t.Run("openai responses unknown model", func(t *testing.T) {
		_, err := e.openai(e.token).Responses.New(ctx, responses.ResponseNewParams{Model: "nope/never",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello.")}})
		openaiStatus(t, err, http.StatusNotFound)
	})
	t.Run("anthropic bad key", func(t *testing.T) {
		_, err := e.anthropic("mos_nope").Messages.New(ctx, msg(sdkModel))
		apierr := anthropicStatus(t, err, http.StatusUnauthorized)
		if !strings.Contains(apierr.RawJSON(), `"authentication_error"`) {
			t.Fatalf("error body %s", apierr.RawJSON())
		}
	})
	t.Run("anthropic bad key, streamed", func(t *testing.T) {
		s := e.anthropic("mos_nope").Messages.NewStreaming(ctx, msg(sdkModel))
		defer s.Close()
		for s.Next() {
			t.Fatalf("an event on a refused stream: %s", s.Current().RawJSON())
		}
		anthropicStatus(t, s.Err(), http.StatusUnauthorized)
	})
	t.Run("anthropic unknown model", func(t *testing.T) {
		_, err := e.anthropic(e.token).Messages.New(ctx, msg("nope/never"))
		apierr := anthropicStatus(t, err, http.StatusNotFound)
		if !strings.Contains(apierr.RawJSON(), `"not_found_error"`) {
			t.Fatalf("error body %s", apierr.RawJSON())
		}
	})
	t.Run("ollama bad key", func(t *testing.T) {
		err := e.ollama(t, "mos_nope").Chat(ctx, &ollama.ChatRequest{Model: sdkModel,
			Messages: []ollama.Message{{Role: "user", Content: "Say hello."}}}, func(ollama.ChatResponse) error { return nil })
		var ae ollama.AuthorizationError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want ollama AuthorizationError 401, got %T %v", err, err)
		}
		_, err = e.ollama(t, "mos_nope").List(ctx)
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
			t.Fatalf("list: want ollama AuthorizationError 401, got %T %v", err, err)
		}
	})
	t.Run("ollama unknown model", func(t *testing.T) {
		err := e.ollama(t, e.token).Chat(ctx, &ollama.ChatRequest{Model: "nope/never",
			Messages: []ollama.Message{{Role: "user", Content: "Say hello."}}}, func(ollama.ChatResponse) error { return nil })
		// On the Ollama door every name is an Ollama model name (they may
		// hold slashes), so the upstream decides; Ollama answers 404
		// {"error":"model \"…\" not found, try pulling it first"}.
		var se ollama.StatusError
		if !errors.As(err, &se) {
			t.Fatalf("want ollama StatusError 404, got %T %v", err, err)
		}
		if se.StatusCode != http.StatusNotFound || se.ErrorMessage == "" {
			t.Fatalf("want ollama StatusError 404 with a message, got %T %v", err, err)
		}
	})
	if n := len(e.upstream.requests()); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}
}
