package cache_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: every cache is
// closed, and Close returns only when all it started have ended. Tests in
// synctest bubbles cannot leak (synctest.Test waits for the bubble's
// goroutines), so this guards the others.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
