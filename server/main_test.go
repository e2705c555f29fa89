package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: the
// cache's refreshes, a test server's connections, a sampler's timer.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
