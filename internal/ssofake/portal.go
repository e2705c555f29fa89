package ssofake

import (
	"errors"
	"net/http"
)

// bearerHeader carries the access token of portal requests.
const bearerHeader = "X-Amz-Sso_bearer_token"

// portalError answers as the SSO portal does: the error's shape name in
// X-Amzn-Errortype and a message in the body.
func portalError(w http.ResponseWriter, status int, shape, message string) {
	w.Header().Set("X-Amzn-Errortype", shape)
	writeJSON(w, status, map[string]string{"message": message})
}

// grantOf returns the unexpired grant of the request's access token, or
// answers UnauthorizedException; s.mu must be held.
func (s *Server) grantOf(w http.ResponseWriter, r *http.Request) *grant {
	g := s.access[r.Header.Get(bearerHeader)]
	if g == nil || !s.clock.Now().Before(g.expires) {
		portalError(w, http.StatusUnauthorized, "UnauthorizedException", "Session token not found or invalid")
		return nil
	}
	return g
}

func (s *Server) getRoleCredentials(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.record("GetRoleCredentials", "")
	g := s.grantOf(w, r)
	s.mu.Unlock()
	if g == nil {
		return
	}
	q := r.URL.Query()
	account, role := q.Get("account_id"), q.Get("role_name")
	if account == "" || role == "" {
		portalError(w, http.StatusBadRequest, "InvalidRequestException", "account_id and role_name are required")
		return
	}
	mint := s.cfg.Mint
	if mint == nil {
		mint = s.staticCredentials
	}
	creds, err := mint(r.Context(), account, role)
	switch {
	case errors.Is(err, ErrNoAccess):
		portalError(w, http.StatusForbidden, "ForbiddenException", "No access")
		return
	case err != nil:
		portalError(w, http.StatusInternalServerError, "InternalServerException", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"roleCredentials": map[string]any{
		"accessKeyId":     creds.AccessKeyID,
		"secretAccessKey": creds.SecretAccessKey,
		"sessionToken":    creds.SessionToken,
		"expiration":      creds.Expires.UnixMilli(),
	}})
}

// logout ends the session of the access token: it and its refresh token
// stop working.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("Logout", "")
	g := s.grantOf(w, r)
	if g == nil {
		return
	}
	delete(s.access, g.access)
	delete(s.refresh, g.refresh)
	w.Header().Set("X-Amzn-Requestid", randomHex(16))
	w.WriteHeader(http.StatusOK)
}
