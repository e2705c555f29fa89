package credfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrChanged means the credentials file changed between its reading and
// its rewriting, so it was not rewritten.
var ErrChanged = errors.New("the credentials file changed while the keys were being stored")

// Import moves the keys of section [profile] of the credentials file at
// path: it reads the file, finds the keys (see Find), hands them to store,
// then rewrites the file without the section (see Remove). When store
// fails, the file is left as it was. The rewrite is atomic (a temporary
// file in the same directory, synced, then renamed over the file, or over
// the file a symbolic link at path points to) and keeps the permission
// bits. It returns an error wrapping ErrChanged, and leaves the file as it
// is, when the file changed after it was read.
func Import(path, profile string, store func(Keys) error) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target // replace the file, not the link
	}
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no credentials file to import from (%w): store the keys with `brokerd keys add %s`", err, profile)
	}
	if err != nil {
		return fmt.Errorf("read credentials file: %w", err)
	}
	keys, out, err := Take(text, path, profile)
	if err != nil {
		return err
	}
	if err := store(keys); err != nil {
		return fmt.Errorf("store the keys of profile %s: %w (%s is unchanged)", profile, err, path)
	}
	err = rewrite(path, text, out)
	if errors.Is(err, ErrChanged) {
		return fmt.Errorf("%w, so %s was left as it was: run the import again to remove [%s] from it", err, path, profile)
	}
	if err != nil {
		return fmt.Errorf("the keys are stored, but %s still holds them: remove [%s] from it by hand (%w)", path, profile, err)
	}
	return nil
}

// Take returns the keys of section [profile] of text, the credentials
// file at path (see Find), and text without that section (see Remove);
// the error names path.
func Take(text []byte, path, profile string) (Keys, []byte, error) {
	keys, err := Find(text, profile)
	if err != nil {
		return Keys{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	out, err := Remove(text, profile)
	if err != nil {
		return Keys{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, out, nil
}

// rewrite replaces the file at path, which held old when it was read, with
// text, atomically.
func rewrite(path string, old, text []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(text); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check credentials file: %w", err)
	}
	now, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("check credentials file: %w", err)
	}
	if !bytes.Equal(now, old) {
		return ErrChanged
	}
	if err := f.Chmod(info.Mode().Perm()); err != nil {
		return fmt.Errorf("set mode of temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replace credentials file: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable, if the system can
		d.Sync()
		d.Close()
	}
	return nil
}
