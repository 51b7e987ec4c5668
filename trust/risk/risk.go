// Package risk classifies what an agent's tool action would do — read, write,
// delete, reach the network, publish, touch credentials — and how much harm
// it could cause, so that the policy gate can decide ALLOW, ASK or BLOCK on
// facts instead of on tool names.
//
// It never executes anything and never touches the file system: shell
// commands are parsed with a real shell parser (mvdan.cc/sh) and judged
// statically, and content is scanned for secrets and personal data whose
// findings never carry the secret itself.
//
// Risk runs from 0 to 4: 0 read-only and harmless; 1 everyday commands and
// writes inside the project; 2 network, package installs, unknown tools,
// writes under /tmp; 3 worth a human look (credentials, publishing, history
// rewrites, hidden or unparseable commands, sudo, writes outside the
// project); 4 destructive or irreversible (recursive deletes outside the
// project, force pushes, download-and-execute, device writes, system
// changes, credentials sent off the machine). An assessment takes the
// highest level any part of the action reaches.
package risk

// Category is a kind of effect an action has.
type Category string

// The categories, in no particular order; an Assessment lists them sorted.
const (
	Read       Category = "read"
	Write      Category = "write"
	Exec       Category = "exec"
	Network    Category = "network"
	Spend      Category = "spend"
	Publish    Category = "publish"
	Delete     Category = "delete"
	Credential Category = "credential"
)

// Signals are the exact strings the policy pack matches on.
const (
	SignalSudo                   = "sudo"
	SignalRecursiveDelete        = "recursive_delete"
	SignalDeleteOutsideProject   = "delete_outside_project"
	SignalDeleteBuildDir         = "delete_build_dir"
	SignalForcePush              = "force_push"
	SignalHistoryRewrite         = "history_rewrite"
	SignalDownloadExec           = "download_exec"
	SignalDeviceWrite            = "device_write"
	SignalPermissionChange       = "permission_change"
	SignalPermissionChangeSystem = "permission_change_system"
	SignalCredentialRead         = "credential_read"
	SignalNetwork                = "network"
	SignalExfiltration           = "exfiltration"
	SignalPackageInstall         = "package_install"
	SignalPublish                = "publish"
	SignalHiddenCommand          = "hidden_command"
	SignalWriteOutsideProject    = "write_outside_project"
	SignalParseError             = "parse_error"
	SignalKill                   = "kill"
	SignalSystemChange           = "system_change"
)

// Sensitivity levels of the content an action carries.
const (
	Public   = "public"
	Personal = "personal"
	Secret   = "secret"
)

// Finding is something sensitive found in content. It never contains the
// secret itself.
type Finding struct {
	Kind   string `json:"kind"`   // e.g. "secret.aws_access_key", "pii.email"
	Where  string `json:"where"`  // which argument or field, e.g. "tool_input.command"
	Offset int    `json:"offset"` // byte offset in that text
	Length int    `json:"length"`
	Hint   string `json:"hint"` // a redacted hint such as "AKIA…(20 chars)"; never the full value
}

// Assessment is the result of classifying one action.
type Assessment struct {
	Risk        int        `json:"risk"`       // 0 (harmless) … 4 (destructive or irreversible)
	Categories  []Category `json:"categories"` // sorted, unique
	Signals     []string   `json:"signals"`    // sorted, unique
	Findings    []Finding  `json:"findings"`
	Sensitivity string     `json:"sensitivity"` // "public", "personal" or "secret"
}

// Action is what is being classified.
type Action struct {
	Tool  string         // agent tool name: "Bash", "Read", "Write", "exec_command", "mcp__server__tool", …
	Input map[string]any // the tool's input as the agent sent it
	Cwd   string         // the agent's working directory (the project); may be empty
	Home  string         // the user's home directory for ~ and $HOME (empty: os.UserHomeDir)
}

// Risk levels, named for the code that assigns them.
const (
	riskNone        = 0 // read-only and harmless
	riskRoutine     = 1 // everyday commands, writes inside the project
	riskElevated    = 2 // network, package installs, unknown tools, temp writes
	riskSensitive   = 3 // worth a human look
	riskDestructive = 4 // destructive or irreversible
)
