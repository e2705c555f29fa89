package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

const evalLine = `eval "$(brokerd env)"`

// envFix is the line that points this shell at brokerd again, for the
// profile it uses now: the one its endpoint URL names, else the default.
func envFix(env Env) string {
	if name := urlProfile(env); name != "" {
		return `eval "$(brokerd env ` + wire.ShellQuote(name) + `)"`
	}
	return evalLine
}

// urlProfile is the profile this shell's endpoint URL names, "" for none.
// The URL's Path is unescaped already: a profile named a%2Fb is a%2Fb.
func urlProfile(env Env) string {
	u, err := url.Parse(env.Getenv(wire.VarURL))
	if err != nil {
		return ""
	}
	if name, ok := strings.CutPrefix(u.Path, wire.CredentialsPath+"/"); ok {
		return name
	}
	return ""
}

// checkVars checks the two variables of this shell, then fetches through
// them as an SDK would.
func checkVars(ctx context.Context, env Env) Check {
	const name = "environment"
	ep, _ := env.State.Endpoint()
	uri := env.Getenv(wire.VarURL)
	tokenFile := env.Getenv(wire.VarTokenFile)
	fix := envFix(env)
	switch {
	case uri == "":
		return Check{name, Fail, wire.VarURL + " is not set in this shell", fix + " (and add it to your shell's rc file)"}
	case !strings.HasPrefix(uri, ep.URL+wire.CredentialsPath):
		return Check{name, Fail, fmt.Sprintf("%s is %s but brokerd serves %s", wire.VarURL, uri, ep.URL), fix}
	case tokenFile == "":
		return Check{name, Fail, wire.VarTokenFile + " is not set in this shell", fix}
	case tokenFile != env.State.Join(state.TokenFile):
		return Check{name, Fail, fmt.Sprintf("%s is %s, not brokerd's %s", wire.VarTokenFile, tokenFile, env.State.Join(state.TokenFile)), fix}
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("cannot read the token file: %v", err), "restart brokerd"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("%s is not a URL: %v", wire.VarURL, err), fix}
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
func checkShadowing(env Env, f files) []Check {
	var out []Check
	fail := func(name, msg, fix string) { out = append(out, Check{name, Fail, msg, fix}) }
	if env.Getenv("AWS_ACCESS_KEY_ID") != "" || env.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		fail("AWS_ACCESS_KEY_ID", "keys in the environment come first in every SDK, so brokerd is not used",
			"unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN")
	}
	if env.Getenv("AWS_ACCESS_KEY") != "" || env.Getenv("AWS_SECRET_KEY") != "" {
		fail("AWS_ACCESS_KEY", "the Go SDK (and the Java SDK v1) read keys from AWS_ACCESS_KEY and AWS_SECRET_KEY too, before brokerd",
			"unset AWS_ACCESS_KEY AWS_SECRET_KEY")
	}
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		if c := checkProfileVar(env, f, v); c != nil {
			out = append(out, *c)
		}
	}
	if env.Getenv(wire.VarRelativeURI) != "" {
		fail(wire.VarRelativeURI, "it wins over AWS_CONTAINER_CREDENTIALS_FULL_URI in every SDK",
			"unset "+wire.VarRelativeURI)
	}
	if env.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		fail("AWS_WEB_IDENTITY_TOKEN_FILE", "web identity comes before the container provider in SDK chains",
			"unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN")
	}
	if keys := sectionSets(f.creds, []string{"default"}, "aws_access_key_id", "aws_secret_access_key"); len(keys) > 0 {
		fail("credentials file", fmt.Sprintf("[default] in %s holds keys, which SDKs use before brokerd", env.CredentialsFile),
			fmt.Sprintf("brokerd keys import default (it stores them in the keychain and deletes [default] from %s), or store them with `brokerd keys add NAME` and delete them by hand", env.CredentialsFile))
	}
	// The SDKs read the credentials file's sections as profiles too, merged
	// over the config file's: a role there is the default profile's.
	set := sectionSets(f.creds, []string{"default"}, credentialSettings...)
	if _, ok := brokerdProcess(f.creds, "default"); ok && slices.Equal(set, []string{"credential_process"}) {
		set = nil // brokerd serving, as in the config file's [default]
	}
	if len(set) > 0 {
		fail("credentials file", fmt.Sprintf("[default] in %s sets %s, so SDKs use it instead of brokerd", env.CredentialsFile, strings.Join(set, ", ")),
			fmt.Sprintf("move those lines to a named [profile NAME] section of %s (brokerd reads profiles from there only) and delete them from %s", env.ConfigFile, env.CredentialsFile))
	}
	// The default profile as the SDKs read it: [profile default] when the
	// file has one, else [default].
	def := []string{"profile default", "default"}
	header := "[default]"
	if _, ok := f.config.Section("profile default"); ok {
		header = "[profile default]"
	}
	keys := sectionSets(f.config, def, profileCredentialKeys...)
	if name, ok := brokerdProcess(f.config, def...); ok && slices.Equal(keys, []string{"credential_process"}) {
		if shell := urlProfile(env); shell != "" && shell != name {
			fail("config file", fmt.Sprintf("%s in %s runs `brokerd credential-process %s`, so SDKs get profile %s from brokerd, not this shell's %s", header, env.ConfigFile, name, name, shell),
				fmt.Sprintf("delete credential_process from %s in %s (brokerd env PROFILE picks the profile), or move it to a [profile NAME] section", header, env.ConfigFile))
		}
	} else if len(keys) > 0 {
		fail("config file", fmt.Sprintf("%s in %s sets %s, so SDKs use it instead of brokerd", header, env.ConfigFile, strings.Join(keys, ", ")),
			fmt.Sprintf("move those lines to a named [profile NAME] section of %s", env.ConfigFile))
	}
	if len(out) == 0 {
		out = append(out, Check{"shadowing", OK, "nothing comes before the container provider in SDK credential chains", ""})
	}
	return out
}

// checkIgnoreEndpointsVar warns of an AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// that is neither true nor false: botocore (and so the aws CLI) reads it
// as false, and the Go SDK fails to load any configuration with it.
func checkIgnoreEndpointsVar(env Env) []Check {
	v := env.Getenv(profile.IgnoreEndpointsVar)
	if v == "" || strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
		return nil
	}
	return []Check{{profile.IgnoreEndpointsVar, Warn,
		fmt.Sprintf("%s=%s is neither true nor false: botocore and the aws CLI read it as false, and the Go SDK fails to load any configuration with it", profile.IgnoreEndpointsVar, v),
		fmt.Sprintf("export %s=true or false, or unset it", profile.IgnoreEndpointsVar)}}
}

// credentialSettings are the settings other than keys that give a profile
// credentials of its own, which SDKs use before the container provider.
var credentialSettings = []string{"role_arn", "source_profile", "credential_process", "credential_source",
	"web_identity_token_file", "sso_session", "sso_start_url", "sso_account_id", "sso_role_name"}

// profileCredentialKeys are the settings that give a profile of the config
// file credentials of its own: credentialSettings, or keys.
var profileCredentialKeys = append(slices.Clip(credentialSettings), "aws_access_key_id")

// profileVarReaders says which SDKs read a variable that names the profile.
var profileVarReaders = map[string]string{
	"AWS_PROFILE":         "every SDK and the aws CLI",
	"AWS_DEFAULT_PROFILE": "the aws CLI and boto3 (even before AWS_PROFILE) and the Go SDK (when AWS_PROFILE is unset)",
}

// checkProfileVar checks a variable that names the profile SDKs use: it
// shadows brokerd when that profile has credentials of its own, and stops
// SDKs when no file has it. A profile that only sets a region or other
// settings is fine.
func checkProfileVar(env Env, f files, v string) *Check {
	name := env.Getenv(v)
	if name == "" {
		return nil
	}
	readers := profileVarReaders[v]
	configSections := []string{"profile " + name}
	if name == "default" {
		configSections = append(configSections, "default")
	}
	_, inConfig := section(f.config, configSections...)
	_, inCreds := section(f.creds, name)
	keys := sectionSets(f.creds, []string{name}, "aws_access_key_id")
	settings := sectionSets(f.config, configSections, profileCredentialKeys...)
	file := env.ConfigFile
	if len(settings) == 0 {
		settings, file = sectionSets(f.creds, []string{name}, credentialSettings...), env.CredentialsFile
	}
	_, byBrokerd := brokerdProcess(f.config, configSections...)
	fix := "unset " + v + " (pick a profile of brokerd with `brokerd env PROFILE` or `brokerd exec PROFILE`)"
	switch {
	case byBrokerd:
		return nil
	case len(keys) > 0:
		return &Check{v, Fail, fmt.Sprintf("%s=%s makes %s use the static keys of [%s] in %s instead of brokerd", v, name, readers, name, env.CredentialsFile),
			fix + "; move the keys into the keychain with `brokerd keys import " + name + "`"}
	case len(settings) > 0:
		return &Check{v, Fail, fmt.Sprintf("%s=%s makes %s use the credentials of that profile (%s in %s) instead of brokerd", v, name, readers, strings.Join(settings, ", "), file), fix}
	case !inConfig && !inCreds:
		return &Check{v, Fail, fmt.Sprintf("%s=%s names a profile that neither %s nor %s has, so %s stop with \"The config profile (%s) could not be found\"", v, name, env.ConfigFile, env.CredentialsFile, readers, name), fix}
	}
	return nil
}

// section returns the first of sections that file f has.
func section(f profile.File, sections ...string) (*profile.Section, bool) {
	for _, name := range sections {
		if s, ok := f.Section(name); ok {
			return s, true
		}
	}
	return nil, false
}

// sectionSets lists which of keys the first of sections that f has sets.
func sectionSets(f profile.File, sections []string, keys ...string) []string {
	s, ok := section(f, sections...)
	if !ok {
		return nil
	}
	var set []string
	for _, k := range keys {
		if get(s, k) != "" {
			set = append(set, k)
		}
	}
	return set
}

// brokerdProcess returns the profile that the first of sections of f gets
// from `brokerd credential-process PROFILE`, if that is its
// credential_process.
func brokerdProcess(f profile.File, sections ...string) (string, bool) {
	s, ok := section(f, sections...)
	if !ok {
		return "", false
	}
	_, args, ok := strings.Cut(s.Keys["credential_process"], "brokerd credential-process ")
	if f := strings.Fields(args); ok && len(f) > 0 {
		return strings.Trim(f[0], `'"`), true
	}
	return "", false
}

// checkKeychain lists the profiles with keys, and says what to do by the
// cause when the keychain cannot.
func checkKeychain(ctx context.Context, env Env) ([]string, Check) {
	const name = "keychain"
	names, err := env.Keychain(ctx)
	var fix string
	switch {
	case err == nil:
		return names, Check{name, OK, fmt.Sprintf("reachable and unlocked; profiles with keys: %d", len(names)), ""}
	case errors.Is(err, keychain.ErrLocked):
		fix = "unlock the login keychain: log in to the desktop session (macOS: Keychain Access; Linux: Seahorse, or `gnome-keyring-daemon --unlock` in the session), then run brokerd doctor again"
	case errors.Is(err, keychain.ErrNoKeyring): // before ErrUnavailable, which it is too
		fix = "create a default keyring (Seahorse, \"Passwords and Keys\": + then \"Password keyring\", then \"Set as default\"), then add your keys again with brokerd keys add PROFILE"
	case errors.Is(err, keychain.ErrUnavailable):
		fix = "start a Secret Service in your session: gnome-keyring (apt-get install gnome-keyring; it starts with a desktop login) or KeePassXC with its Secret Service integration on; over ssh, log in to the desktop first"
	case errors.Is(err, keychain.ErrTimeout):
		fix = "answer the unlock prompt waiting on the desktop (or close it), then run brokerd doctor again"
	default:
		fix = "make the OS keychain reachable (see the message), then run brokerd doctor again"
	}
	return nil, Check{name, Fail, err.Error(), fix}
}

func checkClock(ctx context.Context, env Env) Check {
	const name = "clock"
	at, err := env.STSTime(ctx)
	var send *smithyhttp.RequestSendError
	var nerr net.Error
	switch {
	case err != nil && (errors.As(err, &send) || errors.As(err, &nerr)):
		return Check{"STS", Fail, fmt.Sprintf("STS cannot be reached, so brokerd cannot get or refresh credentials: %v", err),
			"check this machine's network connection (and AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or HTTPS_PROXY if set); brokerd retries on its own"}
	case err != nil:
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
