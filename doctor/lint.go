package doctor

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/suggest"
)

// knownKeys are the settings of a profile that the AWS SDKs, the aws CLI
// and brokerd read; cli_* settings and nested service settings (s3 = …)
// are known too.
var knownKeys = profile.Settings()

// settingName is what a setting's name, or a typo of one, looks like: at
// most 39 characters, so that a secret access key (40) pasted before an
// = is never taken for one and shown (the longest setting has 36).
var settingName = regexp.MustCompile(`^[a-z0-9_.-]{1,39}$`)

// regionName is an AWS region's name (eu-west-1, us-gov-west-1,
// eusc-de-east-1), or a partition's global pseudo-region (aws-global).
var regionName = regexp.MustCompile(`^([a-z]{2,4}(-[a-z]+)+-[0-9]+|aws(-[a-z]+)*-global)$`)

// mfaDevice is an MFA device's ARN (virtual, U2F or hardware device of a
// user), or a hardware token's serial number.
var mfaDevice = regexp.MustCompile(`^(arn:aws[a-z-]*:iam::[0-9]{12}:(mfa|u2f)/.+|[A-Z0-9]{8,})$`)

// checkConfig lints the profiles of the config file: unknown settings, a
// source_profile that names no profile, an mfa_serial that is no device,
// source_profile chains that loop, and values the SDKs refuse. keys are
// the profiles with keys in the keychain (known only when keysKnown).
func checkConfig(env Env, f files, cfg *profile.Config, keys []string, keysKnown bool) []Check {
	if f.configErr != nil {
		return nil // checkSyntax and the daemon report a file that does not load
	}
	var out []Check
	add := func(name string, level Level, msg, fix string) {
		out = append(out, Check{"profile " + name, level, msg, fix})
	}
	names, profiles := f.config.Profiles()
	candidates := slices.Concat(names, keys)
	credSections := sectionNames(f.creds)
	for _, name := range names {
		s := profiles[name]
		if err := profile.CheckName(name); err != nil {
			add(name, Warn, fmt.Sprintf("brokerd cannot serve %s, which SDKs read: %v", sectionName(name), err),
				fmt.Sprintf("rename %s in %s, and each source_profile that names it", sectionName(name), env.ConfigFile))
		}
		for _, key := range slices.Sorted(maps.Keys(s.Keys)) {
			if key == "" || profile.IsSetting(key) || s.Nested[key] != nil {
				continue // a line without a name is checkSyntax's
			}
			if !settingName.MatchString(key) {
				// Likely a token pasted on a line of its own (it may end
				// in =): no check may show it.
				add(name, Warn, fmt.Sprintf("%s has a line whose name is no setting's and may be a pasted key or token (not shown), which the SDKs ignore", sectionName(name)),
					fmt.Sprintf("find the line in %s of %s and delete it", sectionName(name), env.ConfigFile))
				continue
			}
			if near := suggest.Closest(key, knownKeys); near != "" {
				add(name, Fail, fmt.Sprintf("%s sets %s, which no SDK reads: did you mean %s?", sectionName(name), key, near),
					fmt.Sprintf("rename %s to %s in %s of %s", key, near, sectionName(name), env.ConfigFile))
			} else {
				add(name, Warn, fmt.Sprintf("%s sets %s, which neither brokerd nor the AWS SDKs it knows read", sectionName(name), key),
					fmt.Sprintf("check the spelling of %s in %s of %s", key, sectionName(name), env.ConfigFile))
			}
		}
		if r := strings.TrimSpace(get(s, "region")); r != "" && !regionName.MatchString(r) {
			add(name, Warn, fmt.Sprintf("region = %s in %s is not the name of an AWS region (such as eu-west-1), so SDKs, and brokerd's calls to STS, find no endpoint for it", r, sectionName(name)),
				fmt.Sprintf("set region to a region's name (an availability zone such as eu-west-1a is not one) in %s of %s", sectionName(name), env.ConfigFile))
		}
		if name != "default" && strings.TrimSpace(get(s, "aws_secret_access_key")) != "" {
			// [default]'s keys are reported as shadowing brokerd.
			msg := fmt.Sprintf("%s of %s holds a secret access key in plain text: SDKs that use profile %s sign with it, and brokerd, which keeps keys in the keychain, does not read it", sectionName(name), env.ConfigFile, name)
			fix := fmt.Sprintf("brokerd keys add %s (the same key), then delete aws_access_key_id, aws_secret_access_key and aws_session_token from %s of %s", name, sectionName(name), env.ConfigFile)
			if users := sourcedBy(name, names, profiles); get(s, "role_arn") != "" && len(users) > 0 {
				// Its keys sign for users while they are in the file; once
				// deleted, its role is assumed for users instead.
				keysName := name + "-keys"
				msg = fmt.Sprintf("%s of %s holds a secret access key in plain text: as the source_profile of %s it signs with that key (SDKs and brokerd alike use a source profile's keys before its role_arn), and brokerd reads keys from the keychain only", sectionName(name), env.ConfigFile, strings.Join(users, ", "))
				fix = fmt.Sprintf("brokerd keys add %s (the same key), add a [profile %[1]s] section without role_arn and set source_profile = %[1]s in %s, then delete aws_access_key_id, aws_secret_access_key and aws_session_token from %s of %s (deleting them alone would make %[2]s assume the role of %s instead)",
					keysName, strings.Join(headers(users), " and "), sectionName(name), env.ConfigFile)
			}
			add(name, Fail, msg, fix)
		}
		if users := sourcedBy(name, names, profiles); get(s, "role_arn") != "" && len(users) > 0 && len(sectionSets(f.creds, []string{name}, "aws_access_key_id", "aws_secret_access_key")) == 2 {
			keysName := name + "-keys"
			add(name, Fail, fmt.Sprintf("[%s] of %s holds keys, so SDKs reading the files sign the role of %s with them (a source profile's keys come before its role_arn), but brokerd, which reads profiles from %s only, assumes the role of %s for them",
				name, env.CredentialsFile, strings.Join(users, ", "), env.ConfigFile, sectionName(name)),
				fmt.Sprintf("to sign with those keys: rename [%s] to [%s] in %s, run brokerd keys import %[2]s, add a [profile %[2]s] section to %s and set source_profile = %[2]s in %s; to assume the role of %s instead, run brokerd keys import %[1]s",
					name, keysName, env.CredentialsFile, env.ConfigFile, strings.Join(headers(users), " and "), sectionName(name)))
		}
		if keysKnown && slices.Contains(keys, name) && get(s, "role_arn") != "" && get(s, "source_profile") != "" && get(s, "source_profile") != name && get(s, "aws_secret_access_key") == "" {
			// Keys in the keychain do not make a source of a role, as keys
			// in the files do for the SDKs: brokerd reads its plans from
			// the config file alone.
			msg := fmt.Sprintf("the keychain holds keys for %s, which brokerd never signs with: %s has role_arn and source_profile, so brokerd assumes its role", name, sectionName(name))
			fix := "brokerd keys remove " + name
			if users := sourcedBy(name, names, profiles); len(users) > 0 {
				msg += fmt.Sprintf(", for %s too", strings.Join(users, ", "))
				fix = fmt.Sprintf("to sign the role of %s with those keys: brokerd keys add %s-keys (the same key), add a [profile %[2]s-keys] section and set source_profile = %[2]s-keys in %s, then %s; else %[4]s", strings.Join(users, ", "), name, strings.Join(headers(users), " and "), fix)
			}
			add(name, Warn, msg, fix)
		}
		if serial := strings.TrimSpace(get(s, "mfa_serial")); serial != "" && !mfaDevice.MatchString(serial) {
			what := "is not an MFA device's ARN (arn:aws:iam::ACCOUNT:mfa/NAME) nor a hardware token's serial number"
			if profiles[serial] != nil || slices.Contains(keys, serial) {
				what = "names a profile, not an MFA device"
			}
			add(name, Fail, fmt.Sprintf("mfa_serial = %s in %s %s, so STS refuses the MFA code", serial, sectionName(name), what),
				fmt.Sprintf("set mfa_serial to the ARN of your MFA device (IAM console, Security credentials: arn:aws:iam::ACCOUNT:mfa/NAME) in %s of %s", sectionName(name), env.ConfigFile))
		}
		src := strings.TrimSpace(get(s, "source_profile"))
		role := strings.TrimSpace(get(s, "role_arn"))
		switch {
		case role != "" && src == "" && get(s, "credential_source") == "" && get(s, "web_identity_token_file") == "":
			fix := fmt.Sprintf("add source_profile = NAME (the profile whose keys are in the keychain) to %s of %s", sectionName(name), env.ConfigFile)
			own := ""
			fileKeys := get(s, "aws_access_key_id") != "" && get(s, "aws_secret_access_key") != "" ||
				len(sectionSets(f.creds, []string{name}, "aws_access_key_id", "aws_secret_access_key")) == 2
			if fileKeys {
				// The Go SDK takes keys before credential_process and SSO;
				// a profile that is its own source signs with its keys in
				// every SDK, and in brokerd with those in the keychain.
				own, fix = "keys", fmt.Sprintf("add source_profile = %s (the profile itself) to %s of %s, and keep its keys in the keychain (brokerd keys add %[1]s)", name, sectionName(name), env.ConfigFile)
			} else if get(s, "credential_process") != "" {
				own = "credential_process"
			} else if setsSSO(s) {
				own, fix = "IAM Identity Center settings", fmt.Sprintf("move the sso_ settings to a [profile NAME] of their own and set source_profile = NAME in %s of %s", sectionName(name), env.ConfigFile)
			}
			if own == "" {
				add(name, Fail, fmt.Sprintf("%s has role_arn but no source_profile, so no SDK can assume the role", sectionName(name)), fix)
				break
			}
			add(name, Fail, fmt.Sprintf("%s has role_arn but no source_profile: the Go SDK assumes the role with the profile's own %s, but the aws CLI, boto3 and brokerd cannot", sectionName(name), own), fix)
		case src == "" || src == name || profiles[src] != nil || slices.Contains(keys, src):
		case slices.Contains(credSections, src):
			add(name, Fail, fmt.Sprintf("source_profile = %s in %s: the keys of %s are in %s, which SDKs read but brokerd does not", src, sectionName(name), src, env.CredentialsFile),
				"brokerd keys import "+src)
		case !keysKnown:
			add(name, Warn, fmt.Sprintf("source_profile = %s in %s names no profile of %s (the keychain could not be read to look for keys of %s)", src, sectionName(name), env.ConfigFile, src), "")
		default:
			msg := fmt.Sprintf("source_profile = %s in %s names no profile: %s has no [profile %s] and the keychain no keys for %s", src, sectionName(name), env.ConfigFile, src, src)
			fix := fmt.Sprintf("set source_profile to the profile whose keys are in the keychain (`brokerd keys list`) in %s of %s", sectionName(name), env.ConfigFile)
			if near := suggest.Closest(src, candidates); near != "" {
				msg += ": did you mean " + near + "?"
				fix = fmt.Sprintf("set source_profile = %s in %s of %s", near, sectionName(name), env.ConfigFile)
			}
			add(name, Fail, msg, fix)
		}
	}
	for _, name := range names {
		s := profiles[name]
		if svc := get(s, "services"); svc != "" {
			if _, ok := f.config.Section("services " + svc); !ok {
				add(name, Fail, fmt.Sprintf("services = %[1]s in %[2]s names no [services %[1]s] section, so the aws CLI and boto3 stop with \"The profile is configured to use the services section but the \"%[1]s\" services configuration does not exist\" (the Go SDK and brokerd ignore it)", svc, sectionName(name)),
					fmt.Sprintf("add a [services %s] section to %s, or delete services from %s", svc, env.ConfigFile, sectionName(name)))
			}
		}
	}
	out = append(out, checkServices(env, f.config)...)
	if c, ok := checkTwoDefaults(env, f.config); ok {
		out = append(out, c)
	}
	out = append(out, checkLoops(env, profiles, names)...)
	// The SDKs read the credentials file's sections as profiles too;
	// brokerd reads profiles from the config file alone ([default]'s are
	// reported as shadowing).
	for _, name := range credSections {
		set := sectionSets(f.creds, []string{name}, credentialSettings...)
		if _, ok := brokerdProcess(f.creds, name); ok && slices.Equal(set, []string{"credential_process"}) {
			continue // brokerd serving, for SDKs
		}
		if name != "default" && len(set) > 0 {
			add(name, Warn, fmt.Sprintf("[%s] of %s sets %s, which SDKs read but brokerd does not: it reads profiles from %s only", name, env.CredentialsFile, strings.Join(set, ", "), env.ConfigFile),
				fmt.Sprintf("move those lines to %s of %s and delete them from %s", sectionName(name), env.ConfigFile, env.CredentialsFile))
		}
	}
	if cfg == nil {
		return out
	}
	// What resolving each profile finds wrong, as the daemon would; the
	// sources of roles that lack keys, once per source.
	needKeys := map[string][]string{}
	var sources []string
	for _, name := range names {
		plan, err := cfg.Plan(name)
		switch {
		case errors.Is(err, profile.ErrInvalid) && !strings.Contains(err.Error(), "loops") && !strings.Contains(err.Error(), "no source_profile") && !badSSO(cfg, name):
			add(name, Fail, err.Error(), "fix "+sectionName(name)+" of "+env.ConfigFile)
		case err != nil:
		case keysKnown && len(plan.Chain) > 0 && (plan.Kind == profile.KindKeys || plan.Kind == profile.KindMFA) &&
			!slices.Contains(keys, plan.Source.Name) && (profiles[plan.Source.Name] != nil || plan.Source.Name == name):
			if _, ok := needKeys[plan.Source.Name]; !ok {
				sources = append(sources, plan.Source.Name)
			}
			needKeys[plan.Source.Name] = append(needKeys[plan.Source.Name], name)
		}
	}
	for _, src := range sources {
		fix := "brokerd keys add " + src
		if slices.Contains(credSections, src) {
			fix = "brokerd keys import " + src + " (the keys are in " + env.CredentialsFile + ")"
		}
		out = append(out, Check{"profile " + src, Fail, fmt.Sprintf("the keychain has no keys for %s, whose keys sign for %s", src, strings.Join(needKeys[src], ", ")), fix})
	}
	return out
}

// badSSO reports whether name fails to resolve for its IAM Identity Center
// source alone, which checkSSO reports once, under that source's name.
func badSSO(cfg *profile.Config, name string) bool {
	src, _, err := cfg.Source(name)
	return err == nil && src.IsSSO()
}

// checkServices reports a service of a [services NAME] section given a
// value on its own line: the SDKs read a service's settings only nested
// below it (sts =, then an indented endpoint_url = URL).
func checkServices(env Env, f profile.File) []Check {
	var out []Check
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, "services ") {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(s.Keys)) {
			if k == "" || s.Keys[k] == "" {
				continue
			}
			// The value is not shown: the line may be no setting at all.
			out = append(out, Check{"services", Fail,
				fmt.Sprintf("[%s] of %s gives %s a value on its own line, where the SDKs read a service's settings nested below it: the Go SDK and brokerd ignore it, and the aws CLI and boto3 stop with \"'str' object has no attribute 'get'\" for %[3]s calls of the profiles that use the section", s.Name, env.ConfigFile, k),
				fmt.Sprintf("write it as two lines in [%s]: %s = and below it, indented, endpoint_url = URL", s.Name, k)})
		}
	}
	return out
}

// checkTwoDefaults reports a config file with both [default] and [profile
// default]: the Go SDK and brokerd read [profile default] alone, botocore
// whichever comes last.
func checkTwoDefaults(env Env, f profile.File) (Check, bool) {
	plain, prefixed := -1, -1
	for i, s := range f.Sections {
		switch s.Name {
		case "default":
			plain = i
		case "profile default":
			prefixed = i
		}
	}
	if plain < 0 || prefixed < 0 {
		return Check{}, false
	}
	msg := fmt.Sprintf("%s has both [default] and [profile default]: brokerd and the Go SDK read [profile default] alone, and so do the aws CLI and boto3 while it comes last, but any change of order makes them read [default]", env.ConfigFile)
	level := Warn
	if plain > prefixed {
		msg = fmt.Sprintf("%s has both [default] and [profile default]: brokerd and the Go SDK read [profile default] alone, but the aws CLI and boto3 read [default], which comes last, so they use other settings for profile default", env.ConfigFile)
		level = Fail
	}
	return Check{"profile default", level, msg, fmt.Sprintf("merge the two into one [default] section of %s and delete the other", env.ConfigFile)}, true
}

// checkLoops reports each source_profile chain that comes back to itself,
// once per loop.
func checkLoops(env Env, profiles map[string]*profile.Section, names []string) []Check {
	var out []Check
	reported := map[string]bool{}
	for _, start := range names {
		var path []string
		seen := map[string]int{}
		for name := start; ; {
			if i, ok := seen[name]; ok {
				loop := append(slices.Clone(path[i:]), name)
				members := slices.Clone(path[i:])
				slices.Sort(members)
				key := strings.Join(members, "\x00")
				if !reported[key] {
					reported[key] = true
					out = append(out, Check{"profile " + loop[0], Fail,
						fmt.Sprintf("source_profile loops: %s, so no SDK (nor brokerd) can find the keys that sign", strings.Join(loop, " → ")),
						fmt.Sprintf("end the chain at a profile whose keys are in the keychain, in %s", env.ConfigFile)})
				}
				break
			}
			s := profiles[name]
			if s == nil {
				break
			}
			next := strings.TrimSpace(get(s, "source_profile"))
			if next == "" || next == name || get(s, "role_arn") == "" {
				break
			}
			seen[name] = len(path)
			path = append(path, name)
			name = next
		}
	}
	return out
}

// sectionName is the config file header of profile name.
func sectionName(name string) string { return profile.Header(name) }

// get returns the value of key in s, without the spaces around it.
func get(s *profile.Section, key string) string { return strings.TrimSpace(s.Keys[key]) }

// sourcedBy lists the profiles of names whose source_profile is name,
// other than name itself.
func sourcedBy(name string, names []string, profiles map[string]*profile.Section) []string {
	var out []string
	for _, n := range names {
		if n != name && get(profiles[n], "source_profile") == name {
			out = append(out, n)
		}
	}
	return out
}

// headers returns the config file headers of profiles names.
func headers(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = sectionName(n)
	}
	return out
}

// setsSSO reports whether s sets any sso_ setting.
func setsSSO(s *profile.Section) bool {
	for k, v := range s.Keys {
		if strings.HasPrefix(k, "sso_") && v != "" {
			return true
		}
	}
	return false
}

// sectionNames lists the sections of a file, in order.
func sectionNames(f profile.File) []string {
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	return names
}
