package keychain

// MacOSCommandLen and MacOSCommandMax are macOSCommandLen and
// macOSCommandMax, for the tests' stand-in for the macOS backend.
var MacOSCommandLen = macOSCommandLen

const MacOSCommandMax = macOSCommandMax
