package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/brokerd/brokerd/profile"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/ini.v1"

	"github.com/brokerd/brokerd/state"
)

const evalLine = `eval "$(brokerd env)"`

// checkVars checks the two variables of this shell, then fetches through
// them as an SDK would.
func checkVars(ctx context.Context, env Env) Check {
	const name = "environment"
	ep, _ := env.State.Endpoint()
	uri := env.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	tokenFile := env.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	switch {
	case uri == "":
		return Check{name, Fail, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not set in this shell", evalLine + " (and add it to your shell's rc file)"}
	case !strings.HasPrefix(uri, ep.URL+"/v1/credentials"):
		return Check{name, Fail, fmt.Sprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI is %s but brokerd serves %s", uri, ep.URL), evalLine}
	case tokenFile == "":
		return Check{name, Fail, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is not set in this shell", evalLine}
	case tokenFile != env.State.Join(state.TokenFile):
		return Check{name, Fail, fmt.Sprintf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is %s, not brokerd's %s", tokenFile, env.State.Join(state.TokenFile)), evalLine}
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("cannot read the token file: %v", err), "restart brokerd"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: %v", err), evalLine}
	}
	req.Header.Set("Authorization", string(token))
	resp, err := env.HTTP.Do(req)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("fetch credentials: %v", err), "restart brokerd"}
	}
	defer resp.Body.Close()
	var body struct {
		Expiration string
		Message    string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		return Check{name, Fail, fmt.Sprintf("%s answered %d: %s", uri, resp.StatusCode, body.Message), "follow the message above"}
	}
	left := ""
	if exp, err := time.Parse(time.RFC3339, body.Expiration); err == nil {
		left = fmt.Sprintf(", valid for %s", exp.Sub(env.Now()).Round(time.Minute))
	}
	return Check{name, OK, fmt.Sprintf("SDKs in this shell get credentials from %s%s", uri, left), ""}
}

// checkShadowing finds what comes before the container provider in the
// SDKs' default credential chains.
func checkShadowing(env Env) []Check {
	var out []Check
	fail := func(name, msg, fix string) { out = append(out, Check{name, Fail, msg, fix}) }
	if env.Getenv("AWS_ACCESS_KEY_ID") != "" || env.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		fail("AWS_ACCESS_KEY_ID", "keys in the environment come first in every SDK, so brokerd is not used",
			"unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN")
	}
	if p := env.Getenv("AWS_PROFILE"); p != "" && !servedByBrokerd(env.ConfigFile, p) {
		fail("AWS_PROFILE", fmt.Sprintf("AWS_PROFILE=%s makes SDKs use that profile instead of brokerd", p),
			"unset AWS_PROFILE (pick a role with brokerd env PROFILE or brokerd exec PROFILE -- COMMAND)")
	}
	if env.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
		fail("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "it wins over AWS_CONTAINER_CREDENTIALS_FULL_URI in every SDK",
			"unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	}
	if env.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		fail("AWS_WEB_IDENTITY_TOKEN_FILE", "web identity comes before the container provider in SDK chains",
			"unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN")
	}
	if keys := defaultKeys(env.CredentialsFile, "default", "aws_access_key_id", "aws_secret_access_key"); len(keys) > 0 {
		fail("credentials file", fmt.Sprintf("[default] in %s holds keys, which SDKs use before brokerd", env.CredentialsFile),
			fmt.Sprintf("store them with `brokerd keys add NAME`, then delete them from [default] in %s", env.CredentialsFile))
	}
	if keys := defaultKeys(env.ConfigFile, "default", "role_arn", "source_profile", "credential_process", "credential_source",
		"web_identity_token_file", "sso_session", "sso_start_url", "sso_account_id", "sso_role_name", "aws_access_key_id"); len(keys) > 0 {
		fail("config file", fmt.Sprintf("[default] in %s sets %s, so SDKs use it instead of brokerd", env.ConfigFile, strings.Join(keys, ", ")),
			fmt.Sprintf("move those lines to a named [profile NAME] section of %s", env.ConfigFile))
	}
	if len(out) == 0 {
		out = append(out, Check{"shadowing", OK, "nothing comes before the container provider in SDK credential chains", ""})
	}
	return out
}

// defaultKeys lists which of keys the section of file sets.
func defaultKeys(file, section string, keys ...string) []string {
	f, err := ini.LoadSources(ini.LoadOptions{Loose: true, AllowNestedValues: true}, file)
	if err != nil {
		return nil
	}
	s, err := f.GetSection(section)
	if err != nil {
		return nil
	}
	var set []string
	for _, k := range keys {
		if strings.TrimSpace(s.Key(k).String()) != "" {
			set = append(set, k)
		}
	}
	return set
}

// servedByBrokerd reports whether profile gets its credentials from
// `brokerd credential-process`.
func servedByBrokerd(configFile, name string) bool {
	cfg, err := profile.Load(configFile)
	if err != nil {
		return false
	}
	p, err := cfg.Get(name)
	return err == nil && strings.Contains(p.CredentialProcess, "brokerd credential-process")
}

func checkKeychain(ctx context.Context, env Env) Check {
	if err := env.Keychain(ctx); err != nil {
		return Check{"keychain", Fail, err.Error(), "unlock the login keychain (log in to the desktop session), then run brokerd doctor again"}
	}
	return Check{"keychain", OK, "reachable and unlocked", ""}
}

func checkClock(ctx context.Context, env Env) Check {
	const name = "clock"
	at, err := env.STSTime(ctx)
	if err != nil {
		return Check{name, Warn, fmt.Sprintf("could not read the time of STS: %v", err), ""}
	}
	skew := env.Now().Sub(at).Round(time.Second)
	switch {
	case skew > 5*time.Minute || skew < -5*time.Minute:
		return Check{name, Fail, fmt.Sprintf("this machine's clock is %s off STS's; AWS refuses requests more than 5 minutes off", skew), "turn on network time (timedatectl set-ntp true, or System Settings > Date & Time)"}
	case skew > time.Minute || skew < -time.Minute:
		return Check{name, Warn, fmt.Sprintf("this machine's clock is %s off STS's", skew), "turn on network time"}
	}
	return Check{name, OK, fmt.Sprintf("within %s of STS", max(skew, -skew)+time.Second), ""}
}
