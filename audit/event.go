// Package audit provides brokerd's audit log: one JSON line for every
// issuance or refusal of credentials, written off the request path to
// size-rotated files that only their owner can read, and read back for
// the command line.
package audit

import (
	"strings"
	"time"
)

// Kind says what happened to a request for credentials.
type Kind string

const (
	Issued  Kind = "issued"  // credentials were served
	Refused Kind = "refused" // the request got an error
)

// Event is one line of the audit log. It has no field that could hold a
// secret: the access key id is masked, the secret key and session token
// have no place here, nor has a client's command line.
type Event struct {
	// Time is when it happened, in UTC; Log.Record sets it when zero.
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"event"`
	Profile string    `json:"profile"`
	RoleARN string    `json:"role_arn,omitempty"`
	// KeyID is the access key id served; Log.Record masks it to ASIA…WXYZ.
	KeyID string `json:"key_id,omitempty"`
	// Expires is when the credentials served expire; zero on refusals.
	Expires time.Time `json:"expires,omitzero"`
	// Status is the HTTP status answered; Code the error code of a refusal.
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Client is the local process that asked, Container the container
	// whose relay asked on its behalf; either, neither or both may be set.
	Client    *Client    `json:"client,omitempty"`
	Container *Container `json:"container,omitempty"`
	// Count, when above 1, is how many requests alike in all but time this
	// line stands for: the same client (connection, or container token and
	// address) with the same outcome, the first at Time and the last at or
	// before Until.
	Count int       `json:"count,omitempty"`
	Until time.Time `json:"until,omitzero"`
	// Note says why the client is not named, or named in part.
	Note string `json:"note,omitempty"`
}

// N is how many requests e stands for: Count, or 1.
func (e Event) N() int { return max(e.Count, 1) }

// Client is a local process, as far as it is known.
type Client struct {
	PID int    `json:"pid,omitempty"` // 0 when not found (another user's)
	Exe string `json:"exe,omitempty"` // "" when unreadable
	UID int    `json:"uid"`
	// MountNS is the process's mount namespace ("mnt:[4026532512]") when
	// it is not the daemon's: a container's, whose files Exe names.
	MountNS string `json:"mnt_ns,omitempty"`
}

// Container is a container served through a relay, named by the label of
// the relay's token.
type Container struct {
	ID    string `json:"id"`
	Label string `json:"label,omitempty"`
	// IP is the container's address on the relay's network.
	IP string `json:"ip,omitempty"`
}

// MaskKey shows an access key id as its first and last four characters,
// ASIA…WXYZ; an id already masked is returned as is, and one too short to
// mask as "…".
func MaskKey(id string) string {
	if strings.Contains(id, "…") && len(id) == len("ASIA…WXYZ") {
		return id
	}
	if len(id) < 12 {
		if id == "" {
			return ""
		}
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}
