package keychain

// measureItems is whether Set measures an item before storing it: on
// macOS, go-keyring leaves a process behind for one too big.
const measureItems = true
