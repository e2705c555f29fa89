// Package federationfake is the AWS sign-in federation endpoint for tests:
// it answers getSigninToken with a sign-in token for the session
// credentials it is given, and redirects a login with that token to its
// Destination, as https://signin.aws.amazon.com/federation does.
package federationfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Request is a getSigninToken request the server answered or refused.
type Request struct {
	Credentials     aws.Credentials // sessionId, sessionKey and sessionToken of the Session JSON
	SessionDuration string          // "" when absent
}

// Config sets what the server accepts.
type Config struct {
	// Check accepts (nil) or refuses a getSigninToken request whose
	// Session JSON holds all three fields; nil accepts all such requests.
	Check func(Request) error
}

// Server is the fake. Its federation endpoint is URL.
type Server struct {
	URL string // base + "/federation"

	cfg Config
	srv *httptest.Server

	mu       sync.Mutex
	requests []Request
	tokens   map[string]bool // issued and not yet used
	logins   int
}

// New starts a server; Close stops it.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /federation", s.federation)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/federation"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the getSigninToken requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Logins returns how many logins with a valid sign-in token were
// redirected.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *Server) federation(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch q.Get("Action") {
	case "getSigninToken":
		s.getSigninToken(w, q.Get("Session"), q.Get("SessionDuration"))
	case "login":
		s.login(w, r, q.Get("SigninToken"), q.Get("Destination"))
	default:
		http.Error(w, "Bad Request", http.StatusBadRequest)
	}
}

func (s *Server) getSigninToken(w http.ResponseWriter, session, duration string) {
	var in struct {
		ID    string `json:"sessionId"`
		Key   string `json:"sessionKey"`
		Token string `json:"sessionToken"`
	}
	if err := json.Unmarshal([]byte(session), &in); err != nil || in.ID == "" || in.Key == "" || in.Token == "" {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	req := Request{
		Credentials:     aws.Credentials{AccessKeyID: in.ID, SecretAccessKey: in.Key, SessionToken: in.Token},
		SessionDuration: duration,
	}
	var err error
	if s.cfg.Check != nil {
		err = s.cfg.Check(req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if err != nil {
		// The endpoint says no more than this either.
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	b := make([]byte, 96)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	s.tokens[token] = true
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"SigninToken": token})
}

// login redirects to the destination once per sign-in token.
func (s *Server) login(w http.ResponseWriter, r *http.Request, token, destination string) {
	s.mu.Lock()
	ok := s.tokens[token] && destination != ""
	delete(s.tokens, token)
	if ok {
		s.logins++
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, destination, http.StatusFound)
}
