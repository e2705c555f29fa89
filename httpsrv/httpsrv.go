// Package httpsrv provides the http.Server that every brokerd listener
// uses (the credentials endpoint, the relay socket, the control socket,
// the containers' relay), with the limits they share.
package httpsrv

import (
	"net/http"
	"time"
)

// Limits every server shares.
const (
	// ReadHeaderTimeout stops clients that never finish a request's
	// headers.
	ReadHeaderTimeout = 5 * time.Second
	// IdleTimeout frees connections that clients keep idle.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
)

// New returns a server of h with the shared limits; the caller sets
// ConnState and ErrorLog. There is no WriteTimeout: the credentials
// endpoint's answers are under 1 KiB and never wait on the client (a
// deadline would cost every request a timer), and the control socket's
// SSOWait answers after minutes.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
