package server

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/httperr"
)

// writeError answers with err as the JSON error body the SDKs read, and
// logs it, sampled like issuance so that a client retrying in a loop
// cannot flood the log.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, message := httperr.Write(w, err)
	if !s.refused.sample() {
		return
	}
	s.log.Info("request refused", zap.String("path", r.URL.Path), zap.String("client", r.RemoteAddr),
		zap.Int("status", status), zap.String("code", code), zap.String("message", message))
}
