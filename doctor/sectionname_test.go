package doctor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRun_SectionNames checks that doctor warns of a section header whose
// name botocore reads otherwise than brokerd and the Go SDK, saying what
// each reads and what to do, and not of one they read alike.
// TestShlexSplit_Botocore (build tag integration) checks the names against
// botocore itself.
func TestRun_SectionNames(t *testing.T) {
	tests := []struct {
		header, typ, phrase string // phrase "" when there is nothing to say
	}{
		{`[profile "a b"]`, "profile", "the aws CLI and boto3 read the profile name as `a b`, brokerd and the Go SDK as `\"a b\"`"},
		{`[profile "dev"]`, "profile", "the aws CLI and boto3 read the profile name as `dev`, brokerd and the Go SDK as `\"dev\"`"},
		{`[profile a b]`, "profile", "the aws CLI and boto3 read no profile from it, brokerd and the Go SDK read profile `a b`"},
		{`[profile f\g]`, "profile", "the aws CLI and boto3 read the profile name as `fg`, brokerd and the Go SDK as `f\\g`"},
		{`[profiles h]`, "profile", "the aws CLI and boto3 read it as profile `h`, brokerd and the Go SDK read no profile from it"},
		{`[profile "i]`, "profile", "the aws CLI and boto3 read no profile from it, brokerd and the Go SDK read profile `\"i`"},
		{"[sso-session 's t']", "sso-session", "the aws CLI and boto3 read the sso-session name as `s t`, brokerd and the Go SDK as `'s t'`"},
		{`[profile dev]`, "", ""},
		{"[profile \t dev ] # c", "", ""},
		{`[default]`, "", ""},
		{`[services local]`, "", ""},
		{`[plugins]`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			w := newWorld(t)
			write(t, w.env.ConfigFile, tt.header+"\nregion = eu-west-1\n")
			var got []Check
			for _, c := range checkSyntax(w.env) {
				if strings.Contains(c.Fix, "rename the section") {
					got = append(got, c)
				}
			}
			if tt.phrase == "" {
				if len(got) > 0 {
					t.Errorf("checkSyntax(%s) = %+v, want no finding on its name", tt.header, got)
				}
				return
			}
			fix := fmt.Sprintf("on line 1 of %s, rename the section [%s NAME], NAME without spaces, quotes or backslashes, and use NAME where the old name was used", w.env.ConfigFile, tt.typ)
			if len(got) != 1 || got[0].Level != Warn || !strings.HasSuffix(got[0].Message, " line 1: "+tt.header+": "+tt.phrase) || got[0].Fix != fix {
				t.Errorf("checkSyntax(%s) = %+v, want one warning ending %q, fix %q", tt.header, got, tt.phrase, fix)
			}
		})
	}
}

func TestShlexSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil when shlex.split raises ValueError
	}{
		{`profile a`, []string{"profile", "a"}},
		{`profile "a b"`, []string{"profile", "a b"}},
		{`profile 'a "b'`, []string{"profile", `a "b`}},
		{`profile "a\"b"`, []string{"profile", `a"b`}},
		{`profile "a\b"`, []string{"profile", `a\b`}},
		{`profile 'a\b'`, []string{"profile", `a\b`}},
		{`profile a\ b`, []string{"profile", "a b"}},
		{`profile "j"k`, []string{"profile", "jk"}},
		{`profile ""`, []string{"profile", ""}},
		{`profile "a`, nil},
		{`profile a\`, nil},
	}
	for _, tt := range tests {
		got, ok := shlexSplit(tt.in)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
