package credfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/credfile"
)

const file = "# shared\r\n[default]\r\naws_access_key_id = AKIADEFAULTDEFAULTAA\r\naws_secret_access_key = d\r\n\r\n" +
	"[dev]\r\naws_access_key_id = " + id + "\r\naws_secret_access_key = " + secret + "\r\n\r\n" +
	"[prod]\r\naws_access_key_id = AKIAPRODPRODPRODPROD\r\naws_secret_access_key = p"

// want is file without [dev].
const want = "# shared\r\n[default]\r\naws_access_key_id = AKIADEFAULTDEFAULTAA\r\naws_secret_access_key = d\r\n\r\n" +
	"[prod]\r\naws_access_key_id = AKIAPRODPRODPRODPROD\r\naws_secret_access_key = p"

// writeFile writes text to a new file with mode and returns its path.
func writeFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// check fails t unless path holds text with mode, alone in its directory.
func check(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != text {
		t.Errorf("file = %q, %v, want %q", got, err, text)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != mode {
		t.Errorf("file mode = %v, %v, want %v", info.Mode().Perm(), err, mode)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the credentials file (no temporary file left)", len(entries))
	}
}

func TestImport(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o640} {
		path := writeFile(t, file, mode)
		var stored []credfile.Keys
		err := credfile.Import(path, "dev", func(k credfile.Keys) error {
			stored = append(stored, k)
			return nil
		})
		if err != nil {
			t.Fatalf("Import(%q) = %v, want nil", "dev", err)
		}
		if len(stored) != 1 || stored[0] != keys {
			t.Errorf("Import(%q) stored %d keys, want the keys of [dev] once", "dev", len(stored))
		}
		check(t, path, want, mode)
	}
}

func TestImport_storeFails(t *testing.T) {
	path := writeFile(t, file, 0o600)
	err := credfile.Import(path, "dev", func(credfile.Keys) error { return errors.New("keychain is locked") })
	if err == nil || !strings.Contains(err.Error(), "keychain is locked") || !strings.Contains(err.Error(), "is unchanged") {
		t.Errorf("Import(%q) = %v, want the store's error and that the file is unchanged", "dev", err)
	}
	check(t, path, file, 0o600)
}

func TestImport_fileChanges(t *testing.T) {
	path := writeFile(t, file, 0o600)
	changed := file + "\r\n[new]\r\nregion = x\r\n"
	err := credfile.Import(path, "dev", func(credfile.Keys) error {
		return os.WriteFile(path, []byte(changed), 0o600) // as aws configure might, meanwhile
	})
	if !errors.Is(err, credfile.ErrChanged) || !strings.Contains(err.Error(), "run the import again") {
		t.Errorf("Import(%q) = %v, want ErrChanged and what to do", "dev", err)
	}
	check(t, path, changed, 0o600)
}

func TestImport_refused(t *testing.T) {
	text := "[dev]\naws_access_key_id = ASIAIOSFODNN7EXAMPLE\naws_secret_access_key = s\naws_session_token = t\n"
	path := writeFile(t, text, 0o600)
	err := credfile.Import(path, "dev", func(credfile.Keys) error {
		t.Error("Import called store with temporary keys")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "temporary") {
		t.Errorf("Import(%q) = %v, want an error naming the file and temporary keys", "dev", err)
	}
	check(t, path, text, 0o600)
}

func TestImport_symlink(t *testing.T) {
	path := writeFile(t, file, 0o600)
	link := filepath.Join(t.TempDir(), "credentials")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := credfile.Import(link, "dev", func(credfile.Keys) error { return nil }); err != nil {
		t.Fatalf("Import(%q) through a link = %v, want nil", "dev", err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link after Import = %v, %v, want still a symbolic link", info.Mode(), err)
	}
	check(t, path, want, 0o600)
}

func TestImport_missingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	err := credfile.Import(path, "dev", func(credfile.Keys) error { return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Import(%q) of a missing file = %v, want ErrNotExist", "dev", err)
	}
}
