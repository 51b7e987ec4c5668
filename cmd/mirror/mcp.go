package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/mcpserver"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func newMCPCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "mcp",
		Short: "Serve MirrorOS memory and skills to an MCP client over stdio",
		Long: `Serve the kernel's memory and skills to a Model Context Protocol client
(Claude Code, Claude Desktop, an IDE, an agent) over stdio: the client starts
'mirror mcp' and speaks MCP on its stdin and stdout. Only MCP messages are
written to stdout; diagnostics go to stderr.

Tools: memory_search, memory_add_evidence, memory_canon, skill_run and
skill_list (see docs/MCP.md). Every call goes to the running kernel ('mirror
up') under your lease token, so it is authorized by the lease, decided by the
policy gate and recorded in the ledger like any other action.

The kernel is found like other commands (--addr, $MIRROR_ADDR, the config
file, default 127.0.0.1:8400); the token is $MIRROR_TOKEN or
DATA_DIR/owner.token. To give a client less than the owner's authority, grant
it a narrower lease and pass that token in MIRROR_TOKEN:

  mirror lease grant --name claude-code --scope memory:read --scope memory:write \
    --scope skills:read --scope runs:write --ttl 8h --token-only

Claude Code:

  claude mcp add mirror -- mirror mcp
  claude mcp add --scope user --env MIRROR_TOKEN=mos_… mirror -- mirror mcp

Other clients take a JSON entry, e.g. in claude_desktop_config.json:

  {"mcpServers": {"mirror": {"command": "mirror", "args": ["mcp"],
                             "env": {"MIRROR_TOKEN": "mos_…"}}}}

Clients that speak streamable HTTP can skip this command and talk to the
kernel's own endpoint, authenticated by a lease token on every request:

  URL:     http://127.0.0.1:8400/mcp
  Header:  Authorization: Bearer <lease token>

  claude mcp add --transport http mirror http://127.0.0.1:8400/mcp \
    --header "Authorization: Bearer mos_…"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			if c.token == "" {
				return fmt.Errorf("no lease token: set MIRROR_TOKEN, or run 'mirror init' so that %s exists",
					filepath.Join(g.dataDir, kernel.OwnerTokenFile))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// No client timeout: a skill run can last minutes; each call
			// ends with its request's context.
			srv := mcpserver.New(mcpserver.NewHTTPBackend(c.base, c.token, &http.Client{}), kernel.Version)
			fmt.Fprintf(cmd.ErrOrStderr(), "mirror mcp: serving MCP on stdio for the kernel at %s\n", c.base)
			err = srv.Run(ctx, &mcp.StdioTransport{})
			if err == nil || errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
}
