package control

import (
	"context"
	"net/http"
)

// Console asks for a URL that signs in to the AWS Management Console as a
// profile: a role's (or an IAM Identity Center profile's) credentials as
// they are, an IAM user's through GetFederationToken with its long-term
// keys.
type Console struct {
	// Profile is the profile; empty means the daemon's default profile.
	Profile string `json:"profile"`
	// Destination is a console path such as "s3" or "ec2/home", or a whole
	// https URL; empty means the console's home.
	Destination string `json:"destination,omitempty"`
	// Region is the console's region; empty means the profile's.
	Region string `json:"region,omitempty"`
	// DurationSeconds is how long the console session lasts; 0 means the
	// federation endpoint's default (one hour for an IAM user).
	DurationSeconds int `json:"duration_seconds,omitempty"`
}

// ConsoleURL is a sign-in URL. It holds a sign-in token that works once,
// within 15 minutes: a secret, never to be logged.
type ConsoleURL struct {
	URL string `json:"url"`
}

// String does not show the URL.
func (u ConsoleURL) String() string { return "console sign-in URL" }

// GoString does not show the URL.
func (u ConsoleURL) GoString() string { return u.String() }

func (h handler) console(w http.ResponseWriter, r *http.Request) {
	var req Console
	if h.decode(w, r, &req) {
		u, err := h.svc.Console(r.Context(), req)
		h.reply(w, r, u, err)
	}
}

// Console asks the daemon for a console sign-in URL.
func (c *Client) Console(ctx context.Context, req Console) (ConsoleURL, error) {
	var u ConsoleURL
	return u, c.call(ctx, http.MethodPost, "/v1/console", req, &u)
}
