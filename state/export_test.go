package state

// SetLoginRuntimeRoot points DirPath at root in place of /run/user until
// the test ends.
func SetLoginRuntimeRoot(t interface{ Cleanup(func()) }, root string) {
	old := loginRuntimeRoot
	loginRuntimeRoot = root
	t.Cleanup(func() { loginRuntimeRoot = old })
}
