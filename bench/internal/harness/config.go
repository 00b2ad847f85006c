package harness

import (
	"fmt"
	"os"
	"time"

	"github.com/agh-dev/agh/internal/config"
)

// AgentConfig is the config.toml fragment every benchmark uses: an exec agent "echo" that runs
// `true`.
const AgentConfig = `
[agents.echo]
driver = "exec"
command = ["true"]
`

// ConfigWith returns a config.toml with the automation section's extra keys and the agents.
func ConfigWith(automationKeys string) string {
	return fmt.Sprintf("[automation]\n%s\n%s", automationKeys, AgentConfig)
}

// CronJobBody is a create body of a global job that fires daily at 03:00 UTC (never during a
// benchmark run).
func CronJobBody(name string) string {
	return fmt.Sprintf(`{"name":%q,"scope":"global","agent_name":"echo","prompt":"summarize the repository and open an issue for anything broken","schedule":{"mode":"cron","expr":"0 3 * * *"}}`, name)
}

// MustConfig parses a config.toml or exits.
func MustConfig(toml string) *config.Config {
	cfg, err := config.Parse([]byte(toml), os.Getenv, time.Now())
	Check(err)
	return cfg
}
