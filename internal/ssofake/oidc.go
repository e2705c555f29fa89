package ssofake

import (
	"encoding/json"
	"net/http"
	"time"
)

// The grant types of CreateToken.
const (
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	grantRefresh    = "refresh_token"
)

// oidcError answers as the SSO OIDC service does: the error's shape name
// in X-Amzn-Errortype, and an OAuth error code and description in the body.
func oidcError(w http.ResponseWriter, status int, shape, code, desc string) {
	w.Header().Set("X-Amzn-Errortype", shape)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", randomHex(16))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body into v, or answers InvalidRequestException.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		oidcError(w, http.StatusBadRequest, "InvalidRequestException", "invalid_request", "the body is not JSON")
		return false
	}
	return true
}

func (s *Server) registerClient(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientName string   `json:"clientName"`
		ClientType string   `json:"clientType"`
		Scopes     []string `json:"scopes"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("RegisterClient", "")
	if in.ClientName == "" || in.ClientType != "public" {
		oidcError(w, http.StatusBadRequest, "InvalidClientMetadataException", "invalid_client_metadata", "clientName is required and clientType must be public")
		return
	}
	now := s.clock.Now()
	id, c := randomHex(16), &client{secret: s.secret(), scopes: in.Scopes, expires: now.Add(s.cfg.RegistrationLifetime)}
	s.clients[id] = c
	writeJSON(w, http.StatusOK, map[string]any{
		"clientId":              id,
		"clientSecret":          c.secret,
		"clientIdIssuedAt":      now.Unix(),
		"clientSecretExpiresAt": c.expires.Unix(),
	})
}

// client returns the registered client of id and secret, or answers
// InvalidClientException; s.mu must be held.
func (s *Server) client(w http.ResponseWriter, id, secret string) *client {
	c := s.clients[id]
	if c == nil || c.secret != secret || !s.clock.Now().Before(c.expires) {
		oidcError(w, http.StatusUnauthorized, "InvalidClientException", "invalid_client", "the client is not registered, or its registration expired")
		return nil
	}
	return c
}

func (s *Server) startDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		StartURL     string `json:"startUrl"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("StartDeviceAuthorization", "")
	if s.client(w, in.ClientID, in.ClientSecret) == nil {
		return
	}
	if in.StartURL == "" {
		oidcError(w, http.StatusBadRequest, "InvalidRequestException", "invalid_request", "startUrl is required")
		return
	}
	code, d := randomHex(32), &device{clientID: in.ClientID, userCode: userCode(), startURL: in.StartURL,
		expires: s.clock.Now().Add(s.cfg.CodeLifetime)}
	s.devices[code] = d
	writeJSON(w, http.StatusOK, map[string]any{
		"deviceCode":              code,
		"userCode":                d.userCode,
		"verificationUri":         s.URL + "/device",
		"verificationUriComplete": s.URL + "/device?user_code=" + d.userCode,
		"expiresIn":               int(s.cfg.CodeLifetime / time.Second),
		"interval":                int(s.cfg.Interval / time.Second),
	})
}

// verify is the page the verification URI opens: a GET with the user code
// approves it, as the person would.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	if err := s.Approve(r.URL.Query().Get("user_code")); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Write([]byte("Request approved\n"))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		GrantType    string `json:"grantType"`
		DeviceCode   string `json:"deviceCode"`
		RefreshToken string `json:"refreshToken"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("CreateToken", in.GrantType)
	c := s.client(w, in.ClientID, in.ClientSecret)
	if c == nil {
		return
	}
	switch in.GrantType {
	case grantDeviceCode:
		s.deviceToken(w, c, in.ClientID, in.DeviceCode)
	case grantRefresh:
		g := s.refresh[in.RefreshToken]
		if g == nil || g.clientID != in.ClientID {
			oidcError(w, http.StatusBadRequest, "InvalidGrantException", "invalid_grant", "the refresh token is invalid or expired")
			return
		}
		// Refresh tokens rotate: the old one is spent. The old access
		// token lasts until it expires.
		delete(s.refresh, g.refresh)
		s.issue(w, c, in.ClientID, g.startURL)
	default:
		oidcError(w, http.StatusBadRequest, "UnsupportedGrantTypeException", "unsupported_grant_type", "unsupported grant type")
	}
}

// deviceToken answers a poll of a device code; s.mu must be held.
func (s *Server) deviceToken(w http.ResponseWriter, c *client, clientID, code string) {
	d := s.devices[code]
	now := s.clock.Now()
	switch {
	case d == nil || d.clientID != clientID:
		oidcError(w, http.StatusBadRequest, "InvalidGrantException", "invalid_grant", "the device code is invalid")
	case !now.Before(d.expires):
		delete(s.devices, code)
		oidcError(w, http.StatusBadRequest, "ExpiredTokenException", "expired_token", "the device code expired")
	case d.denied:
		delete(s.devices, code)
		oidcError(w, http.StatusBadRequest, "AccessDeniedException", "access_denied", "the request was denied")
	case s.cfg.MinPoll > 0 && !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < s.cfg.MinPoll:
		d.lastPoll = now
		oidcError(w, http.StatusBadRequest, "SlowDownException", "slow_down", "polled too often")
	case !d.approved:
		d.lastPoll = now
		oidcError(w, http.StatusBadRequest, "AuthorizationPendingException", "authorization_pending", "the request is not approved yet")
	default:
		delete(s.devices, code)
		s.issue(w, c, clientID, d.startURL)
	}
}

// issue answers CreateToken with a new access token, and a refresh token
// when the client registered scopes, as the service does; s.mu must be
// held.
func (s *Server) issue(w http.ResponseWriter, c *client, clientID, startURL string) {
	g := &grant{clientID: clientID, startURL: startURL, expires: s.clock.Now().Add(s.cfg.TokenLifetime), access: s.token("aoa")}
	s.access[g.access] = g
	out := map[string]any{
		"accessToken": g.access,
		"tokenType":   "Bearer",
		"expiresIn":   int(s.cfg.TokenLifetime / time.Second),
	}
	if len(c.scopes) > 0 {
		g.refresh = s.token("aor")
		s.refresh[g.refresh] = g
		out["refreshToken"] = g.refresh
	}
	writeJSON(w, http.StatusOK, out)
}
