//go:build unix

package broker

import "syscall"

// sameFile reports whether two os.FileInfo.Sys values name one file, so
// that a config file replaced by a rename is read again.
func sameFile(a, b any) bool {
	sa, ok1 := a.(*syscall.Stat_t)
	sb, ok2 := b.(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return ok1 == ok2
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
