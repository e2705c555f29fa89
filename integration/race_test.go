//go:build integration && race

package integration

// raceEnabled reports whether the tests run with the race detector; the
// brokerd binary is then built with it too.
const raceEnabled = true
