package credfile_test

import (
	"strings"
	"testing"

	"github.com/brokerd/brokerd/credfile"
)

const (
	id     = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var keys = credfile.Keys{AccessKeyID: id, SecretAccessKey: secret}

func TestFind(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // a part of the error; empty means keys are found
	}{
		{"plain", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n", ""},
		{"no spaces, colon", "[dev]\naws_access_key_id=" + id + "\naws_secret_access_key: " + secret, ""},
		{"keys in any case", "[dev]\nAWS_Access_Key_ID = " + id + "\nAWS_SECRET_ACCESS_KEY = " + secret + "\n", ""},
		{"tabs around =", "[dev]\naws_access_key_id\t=\t" + id + "\t\naws_secret_access_key =" + secret + "  \n", ""},
		{"CRLF", "[dev]\r\naws_access_key_id = " + id + "\r\naws_secret_access_key = " + secret + "\r\n", ""},
		{"comments and blank lines", "# mine\n[dev] ; work\n; old key below\n\n   # indented comment\naws_access_key_id = " + id + "\n\naws_secret_access_key = " + secret + "\n", ""},
		{"among others", "[default]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = x\n[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n[prod]\naws_access_key_id = AKIABBBBBBBBBBBBBBBB\n", ""},
		{"settings before any section", "region = x\n[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n", ""},
		{"empty session token", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\naws_session_token =\n", ""},
		{"empty other setting", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\nregion =\n", ""},

		{"missing", "[prod]\naws_access_key_id = " + id + "\n", "no section [dev], only [prod]: check the profile name"},
		{"empty file", "", "has no sections"},
		{"profile prefix", "[profile dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n", "has [profile dev], which AWS tools ignore there: rename it to [dev]"},
		{"twice", "[dev]\naws_access_key_id = " + id + "\n[prod]\n[dev]\naws_secret_access_key = " + secret + "\n", "appears 2 times in the credentials file (lines 1, 4): merge them"},
		{"key twice", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\nAWS_ACCESS_KEY_ID = " + id + "\n", "sets aws_access_key_id 2 times (lines 2, 4): keep one"},
		{"session token", "[dev]\naws_access_key_id = ASIAIOSFODNN7EXAMPLE\naws_secret_access_key = " + secret + "\naws_session_token = FwoGZXIvYXdzEXAMPLE\n", "has aws_session_token: its keys are temporary ones from STS"},
		{"security token", "[dev]\naws_access_key_id = ASIAIOSFODNN7EXAMPLE\naws_secret_access_key = " + secret + "\naws_security_token = FwoGZXIvYXdzEXAMPLE\n", "has aws_security_token: its keys are temporary"},
		{"no keys", "[dev]\n# role_arn lives in config\n", "has no aws_access_key_id or aws_secret_access_key"},
		{"no id", "[dev]\naws_secret_access_key = " + secret + "\n", "has no aws_access_key_id (or it is empty)"},
		{"empty secret", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key =\n", "has no aws_secret_access_key (or it is empty)"},
		{"other settings", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\nregion = eu-west-1\noutput = json\n", "also sets region, output, which removing the section would lose: move that to [profile dev] in ~/.aws/config"},
		{"indented setting", "[dev]\naws_access_key_id = " + id + "\n  aws_secret_access_key = " + secret + "\n", "line 3 is indented"},
		{"indented header", "[prod]\nregion = x\n  [dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n", "header on line 3 is indented"},
		{"indented next header", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n\t[prod]\n", "the next header, on line 4, is indented"},
		{"spaces in brackets", "[ dev ]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n", "has spaces inside the brackets"},
		{"quoted secret", "[dev]\naws_access_key_id = " + id + "\naws_secret_access_key = \"" + secret + "\"\n", "line 3 has quotes or a comment around the value of aws_secret_access_key"},
		{"comment after id", "[dev]\naws_access_key_id = " + id + " # laptop\naws_secret_access_key = " + secret + "\n", "line 2 has quotes or a comment"},
		{"not a setting", "[dev]\naws_access_key_id = " + id + "\n" + secret + "\n", "line 3 is neither a setting"},
		{"bad profile name", "[dev x]\n", `profile name "dev x" cannot name a section`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profile := "dev"
			if tt.name == "bad profile name" {
				profile = "dev x"
			}
			got, err := credfile.Find([]byte(tt.text), profile)
			if tt.want == "" {
				if err != nil || got != keys {
					t.Errorf("Find(%q) = %v, %v, want the keys", tt.text, got.AccessKeyID, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Find(%q) = %v, want an error with %q", tt.text, err, tt.want)
				return
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Find(%q) = %q, want one line without the secret", tt.text, err)
			}
		})
	}
}
