package control

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/server"
)

// Handler serves svc on the control API.
func Handler(svc Service, log *zap.Logger) http.Handler {
	h := handler{svc: svc, log: log}
	r := chi.NewRouter()
	r.Get("/v1/status", h.status)
	r.Post("/v1/refresh/{profile}", h.refresh)
	r.Post("/v1/reload", h.reload)
	r.Post("/v1/login", h.login)
	r.Post("/v1/logout", h.logout)
	// A CLI newer than the running daemon asks for what it does not have.
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, nil, server.Errorf(http.StatusNotFound, "NotFound", "the running brokerd has no %s: restart it after an upgrade (systemctl --user restart brokerd, or stop and start brokerd serve)", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, nil, server.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the running brokerd does not take %s %s: restart it after an upgrade", r.Method, r.URL.Path))
	})
	return server.Recover(log, r)
}

type handler struct {
	svc Service
	log *zap.Logger
}

func (h handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Status(r.Context())
	h.reply(w, r, st, err)
}

func (h handler) refresh(w http.ResponseWriter, r *http.Request) {
	name, ok := server.ProfileParam(r)
	if !ok {
		h.reply(w, r, nil, server.Errorf(http.StatusBadRequest, "BadProfile", "malformed profile name in %q", r.URL.Path))
		return
	}
	h.reply(w, r, struct{}{}, h.svc.Refresh(r.Context(), name))
}

func (h handler) reload(w http.ResponseWriter, r *http.Request) {
	h.reply(w, r, struct{}{}, h.svc.Reload(r.Context()))
}

func (h handler) login(w http.ResponseWriter, r *http.Request) {
	var l Login
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&l); err != nil {
		h.reply(w, r, nil, server.Errorf(http.StatusBadRequest, "BadRequest", "read login request: %v", err))
		return
	}
	res, err := h.svc.Login(r.Context(), l)
	h.reply(w, r, res, err)
}

func (h handler) logout(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Profile string `json:"profile"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		h.reply(w, r, nil, server.Errorf(http.StatusBadRequest, "BadRequest", "read logout request: %v", err))
		return
	}
	src, err := h.svc.Logout(r.Context(), req.Profile)
	h.reply(w, r, struct {
		Profile string `json:"profile"`
	}{src}, err)
}

func (h handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		c := server.WriteError(w, err)
		h.log.Info("control request failed", zap.String("path", r.URL.Path), zap.String("code", c.ErrorCode()), zap.String("message", c.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
