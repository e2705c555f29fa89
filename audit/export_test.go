package audit

import "time"

// SetEUID makes Format take uid for the user who reads the log, until
// the function it returns is called.
func SetEUID(uid int) (restore func()) {
	old := euid
	euid = func() int { return uid }
	return func() { euid = old }
}

// SetZone makes Format show times in loc, until the function it returns is
// called.
func SetZone(loc *time.Location) (restore func()) {
	old := zone
	zone = loc
	return func() { zone = old }
}

// SetFlock makes Open lock its directory with f, until the function it
// returns is called.
func SetFlock(f func(fd, how int) error) (restore func()) {
	old := flock
	flock = f
	return func() { flock = old }
}
