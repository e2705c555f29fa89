//go:build !linux

package trim

// Executable does nothing on systems other than Linux.
func Executable() (int, error) { return 0, nil }
