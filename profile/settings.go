package profile

import (
	"slices"
	"strings"

	"github.com/brokerd/brokerd/suggest"
)

// settings are the settings of a profile that the AWS SDKs, the aws CLI
// and brokerd read (the AWS SDKs and Tools reference guide's settings
// list), in lower case.
var settings = []string{
	"region", "output", "role_arn", "source_profile", "credential_source", "external_id", "mfa_serial",
	"role_session_name", "duration_seconds", "web_identity_token_file", "credential_process",
	"sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name", "sso_registration_scopes",
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token", "aws_account_id",
	"ca_bundle", "endpoint_url", "ignore_configured_endpoint_urls", "services", "use_fips_endpoint",
	"use_dualstack_endpoint", "retry_mode", "max_attempts", "sts_regional_endpoints", "s3_use_arn_region",
	"parameter_validation", "tcp_keepalive", "defaults_mode", "metadata_service_timeout",
	"metadata_service_num_attempts", "ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode",
	"ec2_metadata_v1_disabled", "api_versions", "account_id_endpoint_mode", "request_min_compression_size_bytes",
	"disable_request_compression", "sigv4a_signing_region_set", "auth_scheme_preference",
	"request_checksum_calculation", "response_checksum_validation", "endpoint_discovery_enabled",
	"disable_host_prefix_injection", "sdk_ua_app_id", "s3_disable_multiregion_access_points",
	"mfa_process", // brokerd's own
}

// Settings lists the settings of a profile that the AWS SDKs, the aws CLI
// and brokerd read, in lower case. Settings named cli_* are known too, as
// are nested service settings (s3 = …); see IsSetting.
func Settings() []string { return slices.Clone(settings) }

// IsSetting reports whether key, in lower case, is a setting of a profile
// that the AWS SDKs, the aws CLI or brokerd read.
func IsSetting(key string) bool {
	return slices.Contains(settings, key) || strings.HasPrefix(key, "cli_")
}

// unknown lists the keys of s that no SDK nor brokerd reads, sorted. A key
// without a value is left out: it reads as unset, or opens nested values
// (s3 = …).
func unknown(s *Section) []string {
	var out []string
	for k, v := range s.Keys {
		if k != "" && v != "" && !IsSetting(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Misspelling returns the setting of p that is likely a misspelling of
// setting: one of p.Unknown to which setting is the closest known
// setting; "" when there is none. It does not look at whether p sets
// setting itself.
func (p Profile) Misspelling(setting string) string {
	if setting == "" {
		return ""
	}
	for _, k := range p.Unknown {
		if suggest.Closest(k, settings) == setting {
			return k
		}
	}
	return ""
}
