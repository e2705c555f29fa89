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
// logs it once.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	c := WriteError(w, err)
	s.log.Info("request refused", zap.String("path", r.URL.Path), zap.String("client", r.RemoteAddr),
		zap.Int("status", c.HTTPStatus()), zap.String("code", c.ErrorCode()), zap.String("message", c.Error()))
}

// WriteError writes err as the JSON body {"code","message"}, with the
// status and code of an error that has them (HTTPStatus and ErrorCode
// methods), else as a 500 InternalError. It returns what it wrote.
func WriteError(w http.ResponseWriter, err error) Coded {
	var c Coded
	if !errors.As(err, &c) {
		c = &apiError{http.StatusInternalServerError, "InternalError", err.Error()}
	}
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{c.ErrorCode(), c.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.HTTPStatus())
	w.Write(body)
	return c
}
