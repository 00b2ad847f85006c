package e2e

import (
	"os"
	"testing"

	"github.com/agh-dev/agh/internal/agent/agenttest"
)

func TestMain(m *testing.M) { os.Exit(agenttest.Main(m)) }
