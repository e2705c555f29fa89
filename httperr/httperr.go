// Package httperr provides the one way brokerd's HTTP APIs (the
// credentials endpoint and the control socket) answer errors: a table from
// fault kinds to statuses and codes, and one writer of the JSON body.
package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/wire"
)

// An answer is the status and default code of a kind.
type answer struct {
	status int
	code   string
}

// table maps every kind to its answer. SDKs retry 5xx (and botocore any
// non-200); a Go SDK gives up at once on any other 4xx. So what only a
// person can fix is 4xx, and what passes by itself is 503.
var table = map[fault.Kind]answer{
	fault.Internal:            {http.StatusInternalServerError, "InternalError"},
	fault.NotFound:            {http.StatusNotFound, "ProfileNotFound"},
	fault.NoKeys:              {http.StatusNotFound, "NoKeys"},
	fault.InvalidConfig:       {http.StatusBadRequest, "InvalidConfig"},
	fault.InvalidInput:        {http.StatusBadRequest, "InvalidInput"},
	fault.Unsupported:         {http.StatusBadRequest, "UnsupportedSource"},
	fault.LoginRequired:       {http.StatusUnauthorized, "LoginRequired"},
	fault.Forbidden:           {http.StatusForbidden, "Forbidden"},
	fault.KeychainLocked:      {http.StatusServiceUnavailable, "KeychainLocked"},
	fault.KeychainUnavailable: {http.StatusServiceUnavailable, "KeychainUnavailable"},
	fault.STSUnavailable:      {http.StatusServiceUnavailable, "STSUnavailable"},
	fault.Throttled:           {http.StatusServiceUnavailable, "Throttling"},
	fault.Refused:             {http.StatusForbidden, "AccessDenied"},
	fault.Cancelled:           {http.StatusServiceUnavailable, "Cancelled"},
}

// Error is an error of an HTTP edge itself, such as a wrong Host header,
// whose status no fault kind names.
type Error struct {
	Status        int
	Code, Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an edge error with status and code.
func Errorf(status int, code, format string, args ...any) error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Answer returns the status, code and message err is answered with.
func Answer(err error) (status int, code, message string) {
	if err == nil {
		err = fault.New(fault.Internal, "")
	}
	var e *Error
	if errors.As(err, &e) {
		status, code, message = e.Status, e.Code, e.Message
	} else {
		a, ok := table[fault.KindOf(err)]
		if !ok {
			a = table[fault.Internal]
		}
		status, code, message = a.status, a.code, err.Error()
		if c := fault.CodeOf(err); c != "" {
			code = c
		}
	}
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if code == "" {
		code = "InternalError"
	}
	if message == "" {
		message = "brokerd failed without saying why: see its log"
	}
	return status, code, message
}

// Write answers with err as the JSON body {"code","message"} the SDKs
// read, and returns what it wrote.
func Write(w http.ResponseWriter, err error) (status int, code, message string) {
	status, code, message = Answer(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(wire.EncodeError(code, message))
	return status, code, message
}

// WithBody returns the answer to r when it carries a body, which no
// brokerd endpoint reads, and nil otherwise. net/http reads an unread body
// to its end after the handler, before the answer or the close, for as
// long as a client takes to send it: so the connection is closed after
// the answer, and its reads end now.
func WithBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength == 0 { // -1 when chunked
		return nil
	}
	w.Header()["Connection"] = closeConnection
	// Not supported by test recorders, which read nothing.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	return Errorf(http.StatusBadRequest, "RequestBody", "brokerd's requests carry no body: send a GET without one")
}

// closeConnection is the Connection header's value that closes the
// connection after the answer (net/http does not modify it).
var closeConnection = []string{"close"}

// Recover answers a request whose handler panicked with a JSON 500, and
// logs the panic with its stack, instead of dropping the connection.
func Recover(log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("request handler panicked", zap.String("path", r.URL.Path), zap.Any("panic", v), zap.Stack("stack"))
			Write(w, fault.New(fault.Internal, "brokerd hit a bug and logged it: please report it with brokerd's log"))
		}()
		next.ServeHTTP(w, r)
	})
}
