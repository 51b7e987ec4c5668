// Package config is the kernel's configuration: a TOML file in the data
// directory, with defaults for everything, overridden by environment and flags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/mirroros/mirror/trace/ledger"
)

// FileName is the configuration file inside the data directory.
const FileName = "config.toml"

// Config is the kernel configuration.
type Config struct {
	Server    Server              `toml:"server"`
	Ledger    Ledger              `toml:"ledger"`
	Log       Log                 `toml:"log"`
	Providers []Provider          `toml:"providers"`
	Aliases   map[string][]string `toml:"aliases"`
	Prices    map[string]Price    `toml:"prices"`
	Limits    Limits              `toml:"limits"`
	Audit     Audit               `toml:"audit"`
	Memory    Memory              `toml:"memory"`
}

// Memory tunes the memory plane.
type Memory struct {
	// Corroboration is how many independent pieces of evidence promote a
	// claim into the canon (default 2).
	Corroboration int `toml:"corroboration"`
	// EmbedModel, if set, embeds claims through the bus for hybrid search
	// (e.g. "ollama/nomic-embed-text"); search works fully without one.
	EmbedModel string `toml:"embed_model"`
}

// Audit tunes what the ledger keeps of model calls.
type Audit struct {
	// StoreBodies keeps the request and response bodies of every model call
	// (content-addressed, beside the ledger, in the same transaction as the
	// model.call entry that names their SHA-256). Off by default: the
	// ledger keeps only the hashes.
	StoreBodies bool `toml:"store_bodies"`
}

// Provider is a model provider of the bus. Providers are also discovered
// from the conventional environment variables (see docs/CONFIG.md); one
// configured here with the same name replaces the discovered one.
type Provider struct {
	Name    string `toml:"name"`     // how models are addressed: "<name>/<model>"
	Kind    string `toml:"kind"`     // ollama, openai (any OpenAI-compatible server), anthropic, gemini
	BaseURL string `toml:"base_url"` // default: the vendor's
	APIKey  string `toml:"api_key"`  // usually "$SOME_ENV_VAR"; never logged
	Local   bool   `toml:"local"`    // runs on this machine: secrets may go to it
	Tier    int    `toml:"tier"`     // cloud tiers in order of preference (local is 0)
	RPM     int    `toml:"rpm"`      // requests per minute to this provider; 0: no cap
	TPM     int    `toml:"tpm"`      // prompt tokens per minute (estimated); 0: no cap
}

// Limits caps what one lease may ask of the model bus.
type Limits struct {
	LeaseRPM int `toml:"lease_rpm"` // model calls per minute per lease; 0: no cap
}

// Price is a model's price in USD per million tokens.
type Price struct {
	Input  float64 `toml:"input"`
	Cached float64 `toml:"cached"`
	Output float64 `toml:"output"`
}

// ProviderKinds are the wire protocols the bus speaks.
var ProviderKinds = []string{"ollama", "openai", "anthropic", "gemini"}

// Server configures the HTTP front door.
type Server struct {
	// Addr is the listen address. Loopback by default: the kernel holds the
	// owner's keys and log.
	Addr string `toml:"addr"`
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Ledger configures the trace plane's log.
type Ledger struct {
	// Name is the log's name; checkpoints carry the origin "mirroros/<name>".
	// Fixed when the data directory is initialised (it names the key).
	Name string `toml:"name"`
	// CheckpointInterval is the least time between signed checkpoints.
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	// MaxBatch caps the entries committed in one transaction.
	MaxBatch int `toml:"max_batch"`
}

// Log configures the daemon's own structured log.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Duration is a time.Duration written as a Go duration string ("1s").
type Duration struct{ time.Duration }

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"1s\" or \"500ms\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes a duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultCheckpointInterval keeps an acknowledged entry's wait for a
// covering checkpoint, commit included, under one second.
const DefaultCheckpointInterval = 900 * time.Millisecond

// DefaultAddr is where the kernel listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8400"

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Server: Server{Addr: DefaultAddr, MaxBodyBytes: 1 << 20, ShutdownTimeout: Duration{10 * time.Second}},
		Ledger: Ledger{Name: "local", CheckpointInterval: Duration{DefaultCheckpointInterval}, MaxBatch: 8192},
		Log:    Log{Level: "info", Format: "text"},
	}
}

// FieldError names the configuration field that is wrong.
type FieldError struct {
	Field  string // dotted TOML path, e.g. "server.addr"
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Reason) }

// Validate checks every field and returns a *FieldError for the first bad one.
func (c Config) Validate() error {
	_, port, err := net.SplitHostPort(c.Server.Addr)
	if err != nil || port == "" {
		return &FieldError{"server.addr", fmt.Sprintf("%q is not host:port", c.Server.Addr)}
	}
	if c.Server.MaxBodyBytes < 1024 || c.Server.MaxBodyBytes > 1<<30 {
		return &FieldError{"server.max_body_bytes", "must be between 1024 and 1073741824"}
	}
	if c.Server.ShutdownTimeout.Duration <= 0 {
		return &FieldError{"server.shutdown_timeout", "must be positive"}
	}
	if !validName(c.Ledger.Name) {
		return &FieldError{"ledger.name", fmt.Sprintf("%q must be 1-64 letters, digits, '.', '_' or '-'", c.Ledger.Name)}
	}
	if d := c.Ledger.CheckpointInterval.Duration; d < 10*time.Millisecond || d > time.Hour {
		return &FieldError{"ledger.checkpoint_interval", "must be between 10ms and 1h"}
	}
	if c.Ledger.MaxBatch < 1 || c.Ledger.MaxBatch > 1<<20 {
		return &FieldError{"ledger.max_batch", "must be between 1 and 1048576"}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &FieldError{"log.level", fmt.Sprintf("%q must be debug, info, warn or error", c.Log.Level)}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return &FieldError{"log.format", fmt.Sprintf("%q must be text or json", c.Log.Format)}
	}
	seen := map[string]bool{}
	for i, p := range c.Providers {
		field := fmt.Sprintf("providers[%d]", i)
		if !validName(p.Name) || strings.Contains(p.Name, "/") {
			return &FieldError{field + ".name", fmt.Sprintf("%q must be 1-64 letters, digits, '.', '_' or '-'", p.Name)}
		}
		if seen[p.Name] {
			return &FieldError{field + ".name", fmt.Sprintf("%q is configured twice", p.Name)}
		}
		seen[p.Name] = true
		if !slices.Contains(ProviderKinds, p.Kind) {
			return &FieldError{field + ".kind", fmt.Sprintf("%q must be one of %s", p.Kind, strings.Join(ProviderKinds, ", "))}
		}
		if p.BaseURL != "" {
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &FieldError{field + ".base_url", fmt.Sprintf("%q must be an http or https URL", p.BaseURL)}
			}
		}
		if p.Tier < 0 || p.Tier > 9 {
			return &FieldError{field + ".tier", "must be between 0 and 9"}
		}
		if p.RPM < 0 || p.TPM < 0 {
			return &FieldError{field + ".rpm", "rpm and tpm must not be negative"}
		}
	}
	if c.Memory.Corroboration < 0 || c.Memory.Corroboration > 100 {
		return &FieldError{"memory.corroboration", "must be between 1 and 100 (0: the default, 2)"}
	}
	if c.Limits.LeaseRPM < 0 {
		return &FieldError{"limits.lease_rpm", "must not be negative"}
	}
	for alias, targets := range c.Aliases {
		if !validName(alias) || len(targets) == 0 {
			return &FieldError{"aliases." + alias, "must name one or more \"provider/model\" candidates"}
		}
		for _, t := range targets {
			if prov, model, ok := strings.Cut(t, "/"); !ok || prov == "" || model == "" {
				return &FieldError{"aliases." + alias, fmt.Sprintf("%q is not provider/model", t)}
			}
		}
	}
	for model, p := range c.Prices {
		if !strings.Contains(model, "/") {
			return &FieldError{"prices." + model, "keys are provider/model, optionally ending in *"}
		}
		if p.Input < 0 || p.Cached < 0 || p.Output < 0 || p.Input > 1e4 || p.Output > 1e4 {
			return &FieldError{"prices." + model, "prices are USD per million tokens, between 0 and 10000"}
		}
	}
	return nil
}

func validName(s string) bool {
	return len(s) <= 64 && ledger.ValidOrigin(ledger.OriginPrefix+s)
}

// Parse reads TOML over the defaults, expanding $VAR and ${VAR} from the
// environment in string values. Unknown keys are an error, so a typo is not
// silently ignored.
func Parse(data []byte) (Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader([]byte(os.ExpandEnv(string(data))))).Decode(&c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return Config{}, fmt.Errorf("config: line %d: %s", perr.Position.Line, perr.Message)
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return Config{}, &FieldError{keys[0], "unknown setting (known: server.*, ledger.*, log.*, providers, aliases, prices, limits, audit, memory; see docs/CONFIG.md)"}
	}
	return c, c.Validate()
}

// Load reads DATA_DIR/config.toml; a missing file means the defaults.
func Load(dataDir string) (Config, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		c := Default()
		return c, c.Validate()
	}
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", filepath.Join(dataDir, FileName), err)
	}
	return c, nil
}

// Template renders a commented configuration file with the given values, as
// written by `mirror init`.
func Template(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# MirrorOS kernel configuration. Every setting is optional; the values
# below are the defaults. Environment variables ($VAR) are expanded.
# Flags and MIRROR_* environment variables override this file.

[server]
# Listen address. Keep it on loopback unless a proxy with TLS is in front.
addr = %q
# Largest accepted request body in bytes; larger bodies get 413.
max_body_bytes = %d
# How long a graceful stop may take.
shutdown_timeout = %q

[ledger]
# The log's name: checkpoints are signed with the origin "mirroros/<name>".
# It names the signing key, so it is fixed once the data directory exists.
name = %q
# Least time between two signed checkpoints. An acknowledged entry is
# covered by a checkpoint within about this long.
checkpoint_interval = %q
# Most entries committed in one transaction (one fsync).
max_batch = %d

[log]
# debug, info, warn or error
level = %q
# text or json
format = %q

# Model providers. Ollama on 127.0.0.1:11434 and the vendors whose keys are
# in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY,
# GROQ_API_KEY, MISTRAL_API_KEY, DEEPSEEK_API_KEY, OPENROUTER_API_KEY) are
# found without configuration. Add others here:
#
# [[providers]]
# name = "lmstudio"
# kind = "openai"                # ollama, openai (any compatible server), anthropic, gemini
# base_url = "http://127.0.0.1:1234/v1"
# local = true
#
# Aliases: ordered candidates; local ones are tried first.
# [aliases]
# default = ["ollama/llama3.2", "openai/gpt-4o-mini"]
#
# Without [aliases], "local" is the first local model and "default" that,
# then each cloud vendor's inexpensive default model.
#
# Prices in USD per million tokens, for models the defaults do not know.
# [prices]
# "openai/my-finetune" = { input = 0.30, cached = 0.15, output = 1.20 }
#
# [limits]
# lease_rpm = 120                # model calls per minute per lease (0: no cap)
#
# [audit]
# store_bodies = false           # keep model-call bodies beside their hashes
#
# [memory]
# corroboration = 2              # independent evidence that promotes a claim
# embed_model = ""               # e.g. "ollama/nomic-embed-text" for hybrid search
`, c.Server.Addr, c.Server.MaxBodyBytes, c.Server.ShutdownTimeout.String(),
		c.Ledger.Name, c.Ledger.CheckpointInterval.String(), c.Ledger.MaxBatch,
		c.Log.Level, c.Log.Format)
	return b.String()
}
