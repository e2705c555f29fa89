//go:build !linux

package watch

// newDirsWatcher returns the watcher of directories where only names made,
// removed or renamed count: fsnotify's, which reports the writes to their
// files too (the kqueue backend watches each file of a directory).
func newDirsWatcher() (watcher, error) { return newFSWatcher() }
