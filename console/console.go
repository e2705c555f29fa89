// Package console builds AWS Management Console sign-in URLs for
// credentials through the AWS federation endpoint, as aws-vault login does.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// allowAll is the session policy of GetFederationToken: the federated
// user may do what the IAM user may.
const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// STS is the part of an STS client that console uses: GetFederationToken,
// signed with an IAM user's long-term keys.
type STS interface {
	GetFederationToken(ctx context.Context, in *sts.GetFederationTokenInput, optFns ...func(*sts.Options)) (*sts.GetFederationTokenOutput, error)
}

var _ STS = (*sts.Client)(nil)

// Config holds the optional settings of a Client.
type Config struct {
	// FederationURL is the federation endpoint; "" means the one of the
	// region's partition: https://signin.aws.amazon.com/federation,
	// https://signin.amazonaws-us-gov.com/federation or
	// https://signin.amazonaws.cn/federation.
	FederationURL string
	// HTTPClient calls the federation endpoint; nil means a client with a
	// 5-second timeout.
	HTTPClient *http.Client
	// NewSTS returns an STS client that signs with the long-term keys
	// creds, for region; nil means the SDK's client configured from the
	// environment (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, AWS_REGION).
	NewSTS func(ctx context.Context, creds aws.Credentials, region string) (STS, error)
	// Issuer is the Issuer of the sign-in URL; "" means brokerd.
	Issuer string
	// Name is the federated user's name for GetFederationToken; "" means
	// brokerd.
	Name string
}

// Request says where the console opens and for how long.
type Request struct {
	// Region is the console's region; "" means the console's home in
	// Partition.
	Region string
	// Partition is the partition of the credentials (aws, aws-cn or
	// aws-us-gov, as a role's ARN names it), whose sign-in endpoint takes
	// them; "" means Region's, else aws.
	Partition string
	// Destination is a console path such as "s3" or "ec2/home", or a whole
	// https URL; "" means the console's home page.
	Destination string
	// Duration is how long the console session lasts. For long-term keys
	// it is GetFederationToken's duration, 0 meaning one hour; for role
	// credentials it is the sign-in's SessionDuration, 0 leaving it to the
	// federation endpoint.
	Duration time.Duration
}

// Client makes console sign-in URLs.
type Client struct {
	cfg Config
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.NewSTS == nil {
		cfg.NewSTS = newSTS
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "brokerd"
	}
	if cfg.Name == "" {
		cfg.Name = "brokerd"
	}
	return &Client{cfg: cfg}
}

// validName is checked with a length (2 to 32) apart: a counted
// repetition compiles to a program of that many copies.
var validName = regexp.MustCompile(`^[\w+=,.@-]+$`)

// URL returns a URL that signs in to the console with creds: role
// credentials (with a session token) as they are, long-term IAM user keys
// through GetFederationToken. The URL holds a sign-in token that works once,
// within 15 minutes. Credentials from GetSessionToken cannot sign in.
func (c *Client) URL(ctx context.Context, creds aws.Credentials, r Request) (string, error) {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return "", errors.New("console sign-in needs an access key id and a secret access key")
	}
	var duration string
	switch {
	case creds.SessionToken == "":
		var err error
		if creds, err = c.federate(ctx, creds, r); err != nil {
			return "", err
		}
	case r.Duration != 0:
		if r.Duration < 15*time.Minute || r.Duration > 12*time.Hour {
			return "", fmt.Errorf("a console session lasts from 15 minutes to 12 hours, not %s", r.Duration)
		}
		duration = strconv.Itoa(int(r.Duration / time.Second))
	}
	federation, dest := c.federationURL(r.Partition, r.Region), destination(r.Partition, r.Region, r.Destination)
	token, err := c.signinToken(ctx, federation, creds, duration)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s?Action=login&Issuer=%s&Destination=%s&SigninToken=%s", federation,
		url.QueryEscape(c.cfg.Issuer), url.QueryEscape(dest), url.QueryEscape(token)), nil
}

// federate exchanges long-term keys for the credentials of a federated
// user, which the federation endpoint accepts.
func (c *Client) federate(ctx context.Context, creds aws.Credentials, r Request) (aws.Credentials, error) {
	d := r.Duration
	if d == 0 {
		d = time.Hour
	}
	if d < 15*time.Minute || d > 36*time.Hour {
		return aws.Credentials{}, fmt.Errorf("a federated console session lasts from 15 minutes to 36 hours, not %s", d)
	}
	if n := len(c.cfg.Name); n < 2 || n > 32 || !validName.MatchString(c.cfg.Name) {
		return aws.Credentials{}, fmt.Errorf("federated user name %q is not 2 to 32 letters, digits and _+=,.@-", c.cfg.Name)
	}
	client, err := c.cfg.NewSTS(ctx, creds, r.Region)
	if err != nil {
		return aws.Credentials{}, err
	}
	out, err := client.GetFederationToken(ctx, &sts.GetFederationTokenInput{
		Name:            aws.String(c.cfg.Name),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		Policy:          aws.String(allowAll),
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("get a federation token for the console: %w", err)
	}
	fc := out.Credentials
	if fc == nil || aws.ToString(fc.SessionToken) == "" {
		return aws.Credentials{}, errors.New("GetFederationToken answered without credentials")
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(fc.AccessKeyId),
		SecretAccessKey: aws.ToString(fc.SecretAccessKey),
		SessionToken:    aws.ToString(fc.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(fc.Expiration),
	}, nil
}

// signinToken asks the federation endpoint for a sign-in token for creds.
func (c *Client) signinToken(ctx context.Context, federation string, creds aws.Credentials, duration string) (string, error) {
	session, err := json.Marshal(map[string]string{
		"sessionId":    creds.AccessKeyID,
		"sessionKey":   creds.SecretAccessKey,
		"sessionToken": creds.SessionToken,
	})
	if err != nil {
		return "", err
	}
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if duration != "" {
		q.Set("SessionDuration", duration)
	}
	// The URL is parsed before the credentials join it, so that no error
	// can quote them.
	u, err := url.Parse(federation)
	if err != nil {
		return "", fmt.Errorf("the federation endpoint is not a URL: %w", err)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return "", err
	}
	req.URL, req.Host = u, u.Host
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// The URL holds the credentials: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("reach the federation endpoint %s: %w", federation, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the federation endpoint %s refused the credentials: %s", federation, resp.Status)
	}
	var out struct{ SigninToken string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.SigninToken == "" {
		return "", fmt.Errorf("the federation endpoint %s answered without a sign-in token", federation)
	}
	return out.SigninToken, nil
}

// domains returns the sign-in and console domains of partition part, else
// of region's.
func domains(part, region string) (signin, console string) {
	switch {
	case part == "aws-cn", part == "" && strings.HasPrefix(region, "cn-"):
		return "signin.amazonaws.cn", "console.amazonaws.cn"
	case part == "aws-us-gov", part == "" && strings.HasPrefix(region, "us-gov-"):
		return "signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"
	}
	return "signin.aws.amazon.com", "console.aws.amazon.com"
}

func (c *Client) federationURL(part, region string) string {
	if c.cfg.FederationURL != "" {
		return c.cfg.FederationURL
	}
	signin, _ := domains(part, region)
	return "https://" + signin + "/federation"
}

// destination is the console URL of path in region, as aws-vault makes it:
// https://REGION.console.aws.amazon.com/PATH?region=REGION.
func destination(part, region, path string) string {
	if strings.HasPrefix(path, "https://") {
		return path
	}
	_, domain := domains(part, region)
	path = strings.TrimPrefix(path, "/")
	if region == "" {
		return "https://" + domain + "/" + path
	}
	if path == "" {
		path = "console/home"
	}
	path, fragment, _ := strings.Cut(path, "#")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	dest := "https://" + region + "." + domain + "/" + path + sep + "region=" + url.QueryEscape(region)
	if fragment != "" {
		dest += "#" + fragment
	}
	return dest
}
