package server

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/wire"
)

// writeError answers with err as the JSON error body the SDKs read, and
// logs it, sampled like issuance so that a client retrying in a loop
// cannot flood the log.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if s.cfg.Audit != nil {
		status, code, _ := httperr.Answer(err)
		authorized := s.tokenMatches(header(r.Header, "Authorization"))
		s.cfg.Audit.refused(r, s.pathProfile(r), status, code, authorized)
	}
	status, code, message := httperr.Write(w, err)
	if !s.refused.sample() {
		return
	}
	s.log.Info("request refused", zap.String("path", r.URL.Path), zap.String("client", r.RemoteAddr),
		zap.Int("status", status), zap.String("code", code), zap.String("message", message))
}

// pathProfile is the profile a refused request asked for, as far as its
// path tells: "" when it is not a credentials path.
func (s *server) pathProfile(r *http.Request) string {
	name, ok := credentialsPath(r.URL)
	if ok && name == "" && r.URL.Path == wire.CredentialsPath {
		name = s.cfg.DefaultProfile
	}
	return name
}
