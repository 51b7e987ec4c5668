// Package mcpserver is MirrorOS's Model Context Protocol server: it exposes
// the kernel's memory and skills to MCP clients (Claude Code, Claude
// Desktop, IDEs, agents) as five tools:
//
//   - memory_search: search claims and evidence, with citations
//   - memory_add_evidence: store something observed as evidence
//   - memory_canon: read the canon, the claims memory holds as established
//   - skill_run: run a skill and wait for its output
//   - skill_list: list the skills the kernel runs
//
// The tools do no work themselves: each call goes to a [Backend] bound to
// one caller's lease, which authenticates it, has the policy gate decide it
// and records it in the ledger. [New] builds a server over a Backend;
// [NewHTTPBackend] is a Backend that calls a running kernel's HTTP API (used
// by `mirror mcp` over stdio); [HTTPHandler] serves the streamable HTTP
// transport, binding every request to the backend of the lease its bearer
// token names.
package mcpserver
