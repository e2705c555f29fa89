// Package trim gives back the memory a long-running process used only
// while it started.
package trim
