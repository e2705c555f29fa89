package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/control"
)

// TestService_StatusShowsWhatCannotBeServed checks that status says, before
// any request, why a profile of the config file cannot be served (and a
// default profile the file cannot read, which its list of names leaves
// out), and why the config file itself cannot be used. Status listed none
// of them: the default profile with role_arm for role_arn was missing
// from the table, and a config file that could not be read left only the
// keychain's profiles, with no word of it.
func TestService_StatusShowsWhatCannotBeServed(t *testing.T) {
	w := newWorld(t)
	config := testConfig + `[profile ops]
role_arm = arn:aws:iam::999999999999:role/Ops
source_profile = dev
[profile tool]
credential_process = /usr/bin/false
[profile loop]
role_arn = arn:aws:iam::999999999999:role/Loop
source_profile = loop2
[profile loop2]
role_arn = arn:aws:iam::999999999999:role/Loop
source_profile = loop
`
	if err := os.WriteFile(w.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, w, nil)
	s.defaultProfile = "ops"
	st, err := s.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string) control.Profile {
		for _, p := range st.Profiles {
			if p.Name == name {
				return p
			}
		}
		t.Errorf("Status() profiles = %+v, want %s among them", st.Profiles, name)
		return control.Profile{}
	}
	for _, tt := range []struct{ name, kind, phrase string }{
		{"ops", "invalid", "did you mean role_arn?"},
		{"tool", "invalid", "credential_process"},
		{"loop", "role", "source_profile loops back"},
		{"prod", "role", ""},
		{"dev", "source", ""},
	} {
		p := find(tt.name)
		if p.Kind != tt.kind || (tt.phrase == "") != (p.LastError == "") || !strings.Contains(p.LastError, tt.phrase) {
			t.Errorf("Status() profile %s = kind %q, last error %q, want kind %q and an error saying %q", tt.name, p.Kind, p.LastError, tt.kind, tt.phrase)
		}
	}
	if st.ConfigError != "" {
		t.Errorf("Status().ConfigError = %q, want none for a file that reads", st.ConfigError)
	}

	// A config file that cannot be read: status says so.
	if err := os.Remove(w.config); err != nil || os.Mkdir(w.config, 0o700) != nil {
		t.Fatal(err)
	}
	st, err = s.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.ConfigError, w.config) || !strings.Contains(st.ConfigError, "is a directory") {
		t.Errorf("Status().ConfigError with the config file a directory = %q, want it to name the file and say why", st.ConfigError)
	}
}

// TestService_StatusDefaultProfileMissing checks that status says when the
// default profile is neither in the config file nor in the keychain: it
// showed `default profile "nope"` and nothing wrong, while every SDK that
// names no profile was refused ProfileNotFound.
func TestService_StatusDefaultProfileMissing(t *testing.T) {
	w := newWorld(t)
	w.keys.remove("dev")
	s := newTestService(t, w, nil)
	for _, tt := range []struct{ profile, want string }{
		{"prod", ""},
		{"dev", ""}, // in the config file
		{"nope", `no profile "nope" in ` + w.config + " nor keys for it in the keychain"},
	} {
		s.defaultProfile = tt.profile
		st, err := s.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if (tt.want == "") != (st.DefaultProfileMissing == "") || !strings.Contains(st.DefaultProfileMissing, tt.want) {
			t.Errorf("Status() with default profile %s: DefaultProfileMissing = %q, want %q", tt.profile, st.DefaultProfileMissing, tt.want)
		}
	}
}
