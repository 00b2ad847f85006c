package e2e

import (
	"os"
	"testing"

	"github.com/agh-dev/agh/internal/agent/agenttest"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
)

func TestMain(m *testing.M) {
	code := agenttest.Main(m)
	pgtest.Stop() // the PostgreSQL server of the postgres tests, if one was started
	os.Exit(code)
}
