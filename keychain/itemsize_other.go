//go:build !darwin

package keychain

// measureItems is whether Set measures an item before storing it: only
// on macOS (itemsize_darwin.go).
const measureItems = false
