package audit_test

import (
	"testing"

	"go.uber.org/goleak"
)

// lumberjack starts a goroutine per logger on its first write and never
// stops it (its Close leaves it parked); every other goroutine must end.
var lumberjackMill = goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, lumberjackMill)
}
