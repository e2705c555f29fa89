package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
)

// Coded is an error that knows the HTTP status and code it answers with;
// *broker.Error is one.
type Coded interface {
	error
	HTTPStatus() int
	ErrorCode() string
}

// apiError is an error of the endpoint itself.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string     { return e.message }
func (e *apiError) HTTPStatus() int   { return e.status }
func (e *apiError) ErrorCode() string { return e.code }

// Errorf returns an error that WriteError answers with status and code.
func Errorf(status int, code, format string, args ...any) error {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// writeError answers with err as the JSON error body the SDKs read, and
// logs it, sampled like issuance so that a client retrying in a loop
// cannot flood the log.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	c := WriteError(w, err)
	if !s.refused.sample() {
		return
	}
	s.log.Info("request refused", zap.String("path", r.URL.Path), zap.String("client", r.RemoteAddr),
		zap.Int("status", c.HTTPStatus()), zap.String("code", c.ErrorCode()), zap.String("message", c.Error()))
}

// WriteError writes err as the JSON body {"code","message"}, with the
// status and code of an error that has them (HTTPStatus and ErrorCode
// methods), else as a 500 InternalError. A status that is not an error
// status becomes 500, and an empty code or message is filled in, so that
// an SDK always reads a failure it can report. It returns what it wrote.
func WriteError(w http.ResponseWriter, err error) Coded {
	var c Coded
	if !errors.As(err, &c) {
		c = &apiError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	e := &apiError{status: c.HTTPStatus(), code: c.ErrorCode(), message: c.Error()}
	if e.status < 400 || e.status > 599 {
		e.status = http.StatusInternalServerError
	}
	if e.code == "" {
		e.code = "InternalError"
	}
	if e.message == "" {
		e.message = "brokerd failed without saying why: see its log"
	}
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.code, e.message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	w.Write(body)
	return e
}

// Recover answers a request whose handler panicked with a JSON 500, and logs
// the panic with its stack, instead of dropping the connection.
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
			WriteError(w, Errorf(http.StatusInternalServerError, "InternalError", "brokerd hit a bug and logged it: please report it with brokerd's log"))
		}()
		next.ServeHTTP(w, r)
	})
}
