package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/httpsrv"
)

// maxBody bounds a request's body, and bodyTimeout the time it may take
// to arrive.
const (
	maxBody     = 1 << 16
	bodyTimeout = 5 * time.Second
)

// Server returns the control API's server for svc, with httpsrv's limits:
// a request's headers must arrive within 5 s and its body within
// bodyTimeout, and connections idle for 2 minutes are closed. There is no
// WriteTimeout: SSOWait answers after up to MaxSSOWait.
func Server(svc Service, log *zap.Logger) *http.Server {
	s := httpsrv.New(Handler(svc, log))
	s.ErrorLog = zap.NewStdLog(log)
	s.ConnContext = callerContext // CallerOf names who asked
	return s
}

// Handler serves svc on the control API.
func Handler(svc Service, log *zap.Logger) http.Handler {
	h := handler{svc: svc, log: log}
	r := chi.NewRouter()
	r.Get("/v1/status", h.status)
	r.Get("/v1/names", h.names)
	r.Post("/v1/refresh", h.refresh)
	r.Post("/v1/reload", h.reload)
	r.Post("/v1/login/needs", h.loginNeeds)
	r.Post("/v1/login", h.login)
	r.Post("/v1/logout", h.logout)
	r.Post("/v1/keys", h.keys)
	r.Post("/v1/sso/login", h.ssoLogin)
	r.Post("/v1/sso/wait", h.ssoWait)
	r.Post("/v1/console", h.console)
	r.Post("/v1/resolve", h.resolve)
	h.containerRoutes(r)
	h.reissueRoute(r)
	// A CLI newer than the running daemon asks for what it does not have.
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, nil, httperr.Errorf(http.StatusNotFound, "NotFound", "the running brokerd has no %s: restart it after an upgrade (systemctl --user restart brokerd, or stop and start brokerd serve)", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, nil, httperr.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the running brokerd does not take %s %s: restart it after an upgrade", r.Method, r.URL.Path))
	})
	return httperr.Recover(log, h.readBody(r, bodyTimeout))
}

// readBody reads a request's whole body, at most maxBody bytes within
// timeout, before next runs; a body too large or too slow is answered,
// and its connection closed, without next. Otherwise nothing bounds the
// time a body may take: neither the handlers' reads nor the read of what
// they left, after them, which net/http makes before the next request.
// The deadline is lifted before next runs, so that a handler that waits
// (SSOWait) keeps its context until the client leaves.
func (h handler) readBody(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Not supported by test recorders, whose bodies are in memory.
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			w.Header().Set("Connection", "close")
			h.reply(w, r, nil, bodyError(r.URL.Path, err, timeout))
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r)
	})
}

// bodyError is the answer to a request to path whose body could not be
// read: too large, too slow (timeout), or cut off by the client leaving.
func bodyError(path string, err error, timeout time.Duration) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return httperr.Errorf(http.StatusBadRequest, "BadRequest", "the body of the %s request is over %d bytes: a brokerd CLI sends far less", path, maxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return httperr.Errorf(http.StatusRequestTimeout, "RequestTimeout", "the body of the %s request did not arrive within %s: try again", path, timeout)
	}
	return httperr.Errorf(http.StatusBadRequest, "BadRequest", "read the body of the %s request: %v", path, err)
}

type handler struct {
	svc Service
	log *zap.Logger
}

// named is the body of the requests that name a profile.
type named struct {
	Profile string `json:"profile"`
}

// decode reads r's JSON body into v, answering a malformed one itself.
func (h handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body) // readBody bounded it
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("more than one JSON value in the body")
		}
	}
	if err != nil {
		h.reply(w, r, nil, httperr.Errorf(http.StatusBadRequest, "BadRequest", "read %s request: %v", r.URL.Path, err))
		return false
	}
	return true
}

func (h handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Status(r.Context())
	h.reply(w, r, st, err)
}

func (h handler) names(w http.ResponseWriter, r *http.Request) {
	n, err := h.svc.Names(r.Context())
	h.reply(w, r, n, err)
}

func (h handler) refresh(w http.ResponseWriter, r *http.Request) {
	var req named
	if h.decode(w, r, &req) {
		h.reply(w, r, struct{}{}, h.svc.Refresh(r.Context(), req.Profile))
	}
}

func (h handler) reload(w http.ResponseWriter, r *http.Request) {
	h.reply(w, r, struct{}{}, h.svc.Reload(r.Context()))
}

func (h handler) loginNeeds(w http.ResponseWriter, r *http.Request) {
	var req named
	if h.decode(w, r, &req) {
		needs, err := h.svc.LoginNeeds(r.Context(), req.Profile)
		h.reply(w, r, needs, err)
	}
}

func (h handler) login(w http.ResponseWriter, r *http.Request) {
	var l Login
	if h.decode(w, r, &l) {
		res, err := h.svc.Login(r.Context(), l)
		h.reply(w, r, res, err)
	}
}

func (h handler) logout(w http.ResponseWriter, r *http.Request) {
	var req named
	if h.decode(w, r, &req) {
		src, err := h.svc.Logout(r.Context(), req.Profile)
		h.reply(w, r, named{src}, err)
	}
}

func (h handler) keys(w http.ResponseWriter, r *http.Request) {
	var c KeysChange
	if h.decode(w, r, &c) {
		h.reply(w, r, struct{}{}, h.svc.KeysChanged(r.Context(), c))
	}
}

func (h handler) resolve(w http.ResponseWriter, r *http.Request) {
	var req named
	if h.decode(w, r, &req) {
		res, err := h.svc.Resolve(r.Context(), req.Profile)
		h.reply(w, r, res, err)
	}
}

func (h handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		_, code, message := httperr.Write(w, err)
		h.log.Info("control request failed", zap.String("path", r.URL.Path), zap.String("code", code), zap.String("message", message))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
