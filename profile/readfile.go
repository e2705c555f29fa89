package profile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize bounds the config and credentials files read: they hold a
// few kilobytes.
const MaxFileSize = 16 << 20

// ReadFile reads a config or credentials file, which must be a regular
// file of at most MaxFileSize bytes: a named pipe (AWS_CONFIG_FILE=<(…))
// would block the reader until something writes to it, and a device never
// ends. Its errors are *fs.PathError.
func ReadFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a named pipe for reading waits for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("is a directory")}
	case !fi.Mode().IsRegular():
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is not a regular file (%s), which brokerd cannot read again at each change", kind(fi.Mode()))}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("is over %d MiB, which no AWS config needs", MaxFileSize>>20)}
	}
	return b, nil
}

// kind names a file mode that is not a regular file's.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
