package profile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestParse_STSEndpoint checks that a profile's EndpointURL is where
// aws-sdk-go-v2 sends its STS calls (an STS client built from the
// profile, the environment setting none): the sts endpoint_url of its
// [services NAME] section before its own endpoint_url, and neither when it
// sets ignore_configured_endpoint_urls = true. botocore agrees on each
// case (boto3 client('sts').meta.endpoint_url) but the key's case.
func TestParse_STSEndpoint(t *testing.T) {
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"} {
		t.Setenv(v, "")
		os.Unsetenv(v) // the STS client looks up whether they are set at all
	}
	const global = "[profile a]\nendpoint_url = http://global:1\n"
	const services = "[services s]\nsts =\n  endpoint_url = http://sts:2\ns3 =\n  endpoint_url = http://s3:3\n"
	tests := []struct {
		name, text, want string
	}{
		{"endpoint_url", global, "http://global:1"},
		{"services sts before endpoint_url", global + "services = s\n" + services, "http://sts:2"},
		{"services without endpoint_url", "[profile a]\nservices = s\n" + services, "http://sts:2"},
		{"services section before the profile", services + global + "services = s\n", "http://sts:2"},
		{"services without sts", global + "services = s\n[services s]\ns3 =\n  endpoint_url = http://s3:3\n", "http://global:1"},
		{"services naming no section", global + "services = nope\n", "http://global:1"},
		{"nested keys in any case", global + "services = s\n[services s]\nSTS =\n  Endpoint_URL = http://sts:2\n", "http://sts:2"},
		{"nested value keeps its comment", global + "services = s\n[services s]\nsts =\n\tendpoint_url = http://sts:2 # c\n", "http://sts:2 # c"},
		{"flat sts is no endpoint", "[profile a]\nservices = s\n[services s]\nsts = http://flat:4\n", ""},
		{"sts opened again drops its nested values", global + "services = s\n" + services + "[services s]\nsts =\n", "http://global:1"},
		{"nested values in a profile are not its own", "[profile a]\nsts =\n  endpoint_url = http://nested:5\n", ""},
		{"ignore", global + "services = s\nignore_configured_endpoint_urls = true\n" + services, ""},
		{"ignore in any case", global + "ignore_configured_endpoint_urls = TRUE\n", ""},
		{"ignore false", global + "ignore_configured_endpoint_urls = false\n", "http://global:1"},
		{"ignore yes is not true", global + "ignore_configured_endpoint_urls = yes\n", "http://global:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mustParse(t, tt.text).Get("a")
			if err != nil || p.EndpointURL != tt.want {
				t.Errorf("Parse(%q).Get(a).EndpointURL = %q, %v; want %q", tt.text, p.EndpointURL, err, tt.want)
			}
			if got := sdkSTSClientEndpoint(t, tt.text, "a"); got != tt.want {
				t.Errorf("aws-sdk-go-v2's STS client of profile a of %q sends to %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

// sdkSTSClientEndpoint returns the BaseEndpoint of the STS client that
// aws-sdk-go-v2 makes for profile name of text.
func sdkSTSClientEndpoint(t *testing.T, text, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithSharedConfigProfile(name),
		config.WithSharedConfigFiles([]string{path}), config.WithSharedCredentialsFiles([]string{}),
		config.WithRegion("eu-west-1"), config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	if err != nil {
		t.Fatalf("config.LoadDefaultConfig(profile %q of %q) = %v", name, text, err)
	}
	return aws.ToString(sts.NewFromConfig(cfg).Options().BaseEndpoint)
}

// TestParse_IgnoreEndpointsEnv checks that AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
// when it is true or false (in any case), decides over a profile's
// ignore_configured_endpoint_urls, as in aws-sdk-go-v2 (its environment
// config comes before the shared config) and botocore (the variable before
// the profile in its config chain); unset or empty, the profile decides,
// as in aws-sdk-go-v2 (botocore reads an empty value as false).
func TestParse_IgnoreEndpointsEnv(t *testing.T) {
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	const global = "[profile a]\nendpoint_url = http://global:1\n"
	tests := []struct {
		env, text, want string
		ignore          bool
	}{
		{"false", global + "ignore_configured_endpoint_urls = true\n", "http://global:1", false},
		{"FALSE", global + "ignore_configured_endpoint_urls = true\n", "http://global:1", false},
		{"false", global + "services = s\nignore_configured_endpoint_urls = true\n[services s]\nsts =\n  endpoint_url = http://sts:2\n", "http://sts:2", false},
		{"true", global, "", true},
		{"True", global + "ignore_configured_endpoint_urls = false\n", "", true},
		{"", global + "ignore_configured_endpoint_urls = true\n", "", true},
		{"", global, "http://global:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.text, func(t *testing.T) {
			t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", tt.env)
			if tt.env == "" {
				os.Unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
			}
			p, err := mustParse(t, tt.text).Get("a")
			if err != nil || p.EndpointURL != tt.want || p.IgnoreEndpoints != tt.ignore {
				t.Errorf("with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=%q, Parse(%q).Get(a) = EndpointURL %q, IgnoreEndpoints %v, %v; want %q, %v",
					tt.env, tt.text, p.EndpointURL, p.IgnoreEndpoints, err, tt.want, tt.ignore)
			}
			if got := sdkSTSClientEndpoint(t, tt.text, "a"); got != tt.want {
				t.Errorf("with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=%q, aws-sdk-go-v2's STS client of profile a of %q sends to %q, want %q", tt.env, tt.text, got, tt.want)
			}
		})
	}
}
