package broker

import (
	"os"
	"sync"
	"time"

	"github.com/brokerd/brokerd/profile"
)

// configFile is the AWS config file, parsed again only when it changed.
type configFile struct {
	path string
	load func(string) (*profile.Config, error)

	mu      sync.Mutex
	parsed  *profile.Config
	modTime time.Time
	size    int64
	inode   any

	// seen is the file as epoch last saw it.
	seen      fileStat
	seenEpoch uint64
}

// get returns the parsed file and whether it was parsed anew; force parses
// it anew whatever its modification time says.
func (f *configFile) get(force bool) (*profile.Config, bool, error) {
	path := f.path
	if path == "" {
		var err error
		if path, err = profile.Path(); err != nil {
			return nil, false, err
		}
	}
	var mod time.Time
	var size int64
	var inode any
	if fi, err := os.Stat(path); err == nil {
		mod, size, inode = fi.ModTime(), fi.Size(), fi.Sys()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !force && f.parsed != nil && f.parsed.Path == path && mod.Equal(f.modTime) && size == f.size && sameFile(inode, f.inode) {
		return f.parsed, false, nil
	}
	load := f.load
	if load == nil {
		load = profile.Load
	}
	cfg, err := load(path)
	if err != nil {
		return nil, true, err
	}
	f.parsed, f.modTime, f.size, f.inode = cfg, mod, size, inode
	return cfg, true, nil
}

// epoch returns a number that changes whenever the config file's
// modification time, size or identity does, without parsing it.
func (f *configFile) epoch() uint64 {
	path := f.path
	if path == "" {
		path, _ = profile.Path()
	}
	var st fileStat
	if fi, err := os.Stat(path); err == nil {
		st = fileStat{fi.ModTime(), fi.Size(), fi.Sys()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !st.modTime.Equal(f.seen.modTime) || st.size != f.seen.size || !sameFile(st.inode, f.seen.inode) {
		f.seen = st
		f.seenEpoch++
	}
	return f.seenEpoch
}

type fileStat struct {
	modTime time.Time
	size    int64
	inode   any
}
