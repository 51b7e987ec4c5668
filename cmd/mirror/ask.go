package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/mirroros/mirror/kernel"
	"github.com/spf13/cobra"
)

func newAskCmd(g *globals) *cobra.Command {
	var model, system string
	var noIdentity bool
	cmd := &cobra.Command{
		Use:   `ask "QUESTION" [--model M]`,
		Short: "Ask a model one question through the bus, streaming the answer",
		Long: `Send one turn through the kernel's OpenAI-compatible door: routed by the bus
(local models first, fallback, sovereign routing), decided by policy, charged
to your lease and recorded in the ledger. --model takes an alias ("default",
"local", …) or provider/model (see mirror models).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			msgs := []map[string]any{}
			if system != "" {
				msgs = append(msgs, map[string]any{"role": "system", "content": system})
			}
			msgs = append(msgs, map[string]any{"role": "user", "content": strings.Join(args, " ")})
			body, _ := json.Marshal(map[string]any{"model": model, "messages": msgs, "stream": true, "stream_options": map[string]any{"include_usage": true}})
			req, err := http.NewRequestWithContext(cmd.Context(), "POST", c.base+"/v1/chat/completions", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Content-Type", "application/json")
			if noIdentity {
				req.Header.Set("X-Mirror-Identity", "off")
			}
			resp, err := (&http.Client{}).Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach the kernel at %s (is 'mirror up' running?): %w", c.base, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				var e struct {
					Error struct{ Message, Code string } `json:"error"`
				}
				json.NewDecoder(resp.Body).Decode(&e)
				return &exitError{1, fmt.Errorf("%s (%d %s)", e.Error.Message, resp.StatusCode, e.Error.Code)}
			}
			out := cmd.OutOrStdout()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			var usage struct{ PromptTokens, CompletionTokens int }
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				if data == "[DONE]" {
					fmt.Fprintln(out)
					if usage.PromptTokens+usage.CompletionTokens > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "(%d prompt + %d completion tokens)\n", usage.PromptTokens, usage.CompletionTokens)
					}
					return nil
				}
				var chunk struct {
					Choices []struct {
						Delta struct{ Content string } `json:"delta"`
					} `json:"choices"`
					Usage *struct {
						PromptTokens     int `json:"prompt_tokens"`
						CompletionTokens int `json:"completion_tokens"`
					} `json:"usage"`
					Error *struct{ Message string } `json:"error"`
				}
				if err := json.Unmarshal([]byte(data), &chunk); err != nil {
					continue
				}
				if chunk.Error != nil {
					fmt.Fprintln(out)
					return &exitError{1, fmt.Errorf("the answer broke off: %s", chunk.Error.Message)}
				}
				for _, ch := range chunk.Choices {
					fmt.Fprint(out, ch.Delta.Content)
				}
				if chunk.Usage != nil {
					usage.PromptTokens, usage.CompletionTokens = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
				}
			}
			fmt.Fprintln(out)
			return &exitError{1, fmt.Errorf("the answer ended without its end marker (cut off)")}
		},
	}
	cmd.Flags().StringVarP(&model, "model", "m", "default", "an alias or provider/model")
	cmd.Flags().StringVar(&system, "system", "", "a system prompt")
	cmd.Flags().BoolVar(&noIdentity, "no-identity", false, "do not prepend DATA_DIR/identity.md")
	return cmd
}

func newSpendCmd(g *globals) *cobra.Command {
	var by, since string
	cmd := &cobra.Command{
		Use:   "spend [--by lease|model|day] [--since 720h]",
		Short: "Show model spending, from the audited model.call records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			q := url.Values{"by": {by}}
			if since != "" {
				q.Set("since", since)
			}
			var resp struct{ Rows []kernel.SpendRow }
			if err := c.send(cmd.Context(), "GET", "/v1/spend?"+q.Encode(), nil, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "%s\tCALLS\tUSD\tPROMPT TOKENS\tCOMPLETION TOKENS\n", strings.ToUpper(by))
			var total float64
			for _, r := range resp.Rows {
				fmt.Fprintf(tw, "%s\t%d\t%.6f\t%d\t%d\n", r.Key, r.Calls, r.CostUSD, r.PromptTokens, r.CompletionTokens)
				total += r.CostUSD
			}
			fmt.Fprintf(tw, "total\t\t%.6f\t\t\n", total)
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&by, "by", "model", "group by lease, model or day")
	cmd.Flags().StringVar(&since, "since", "", "an RFC 3339 time or a duration back from now, e.g. 720h")
	return cmd
}
