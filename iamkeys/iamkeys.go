// Package iamkeys provides the three IAM calls that key rotation makes
// (ListAccessKeys, CreateAccessKey and DeleteAccessKey) over IAM's Query
// API, signed with the SDK's SigV4 signer and retried by the configured
// retryer (the SDK's standard one by default). It stands in for the SDK's
// service/iam, whose package initialisation builds 0.7 MB of operation
// schemas in every brokerd process, the daemon's included, and adds 3.7 ms
// to every command.
package iamkeys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Key is an access key that CreateAccessKey made. Its secret is shown only
// once: never log it.
type Key struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
}

// CodeNoSuchEntity is the code of IAM's answer when the user or key does
// not exist (smithy.APIError's ErrorCode).
const CodeNoSuchEntity = "NoSuchEntity"

// Client calls IAM. Each call takes the credentials that sign it.
type Client struct {
	http     aws.HTTPClient
	endpoint string
	region   string // the signing region
	signer   *v4.Signer
	retryer  aws.Retryer
	now      func() time.Time
}

// New returns a client for the IAM endpoint that cfg names: AWS_ENDPOINT_URL_IAM,
// AWS_ENDPOINT_URL or endpoint_url as the SDK reads them, else the global
// endpoint of cfg.Region's partition (aws, aws-cn or aws-us-gov).
func New(cfg aws.Config) (*Client, error) {
	endpoint, region, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	var retryer aws.Retryer = retry.NewStandard()
	if cfg.Retryer != nil { // AWS_MAX_ATTEMPTS, AWS_RETRY_MODE
		retryer = cfg.Retryer()
	}
	return &Client{http: hc, endpoint: endpoint, region: region, signer: v4.NewSigner(),
		retryer: retryer, now: time.Now}, nil
}

// serviceEndpoint and ignoreEndpoints are what the SDK's config sources
// implement to give a service's own endpoint (config.EnvConfig reads
// AWS_ENDPOINT_URL_IAM) and to say that configured endpoints are ignored
// (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
type (
	serviceEndpoint interface {
		GetServiceBaseEndpoint(ctx context.Context, sdkID string) (string, bool, error)
	}
	ignoreEndpoints interface {
		GetIgnoreConfiguredEndpoints(ctx context.Context) (bool, bool, error)
	}
)

// configured is the IAM endpoint that cfg's sources name, as the SDK's
// clients read it: the first source that says.
func configured(cfg aws.Config) (string, bool) {
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(ignoreEndpoints); ok {
			if ignore, found, _ := p.GetIgnoreConfiguredEndpoints(context.Background()); found {
				if ignore {
					return "", false
				}
				break
			}
		}
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(serviceEndpoint); ok {
			if v, found, err := p.GetServiceBaseEndpoint(context.Background(), "IAM"); err != nil || found {
				return v, err == nil && found
			}
		}
	}
	return "", false
}

func resolve(cfg aws.Config) (endpoint, region string, err error) {
	if v, ok := configured(cfg); ok {
		return v, signingRegion(cfg.Region), nil
	}
	if cfg.BaseEndpoint != nil {
		return *cfg.BaseEndpoint, signingRegion(cfg.Region), nil
	}
	r := cfg.Region
	switch {
	case strings.HasPrefix(r, "cn-"):
		return "https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1", nil
	case strings.HasPrefix(r, "us-gov-"):
		return "https://iam.us-gov.amazonaws.com", "us-gov-west-1", nil
	case strings.Contains(r, "-iso") || strings.HasPrefix(r, "eusc-"):
		return "", "", fmt.Errorf("brokerd does not know IAM's endpoint in region %s: set AWS_ENDPOINT_URL_IAM", r)
	}
	return "https://iam.amazonaws.com", "us-east-1", nil
}

// signingRegion is the region that signs calls to a configured endpoint:
// the configured region, as the SDK signs them.
func signingRegion(r string) string {
	if r == "" {
		return "us-east-1"
	}
	return r
}

// ListAccessKeys returns the ids of user's access keys (IAM allows two).
func (c *Client) ListAccessKeys(ctx context.Context, creds aws.CredentialsProvider, user string) ([]string, error) {
	var out struct {
		IDs []string `xml:"ListAccessKeysResult>AccessKeyMetadata>member>AccessKeyId"`
	}
	err := c.call(ctx, creds, "ListAccessKeys", url.Values{"UserName": {user}}, &out)
	return out.IDs, err
}

// CreateAccessKey makes a new access key for user.
func (c *Client) CreateAccessKey(ctx context.Context, creds aws.CredentialsProvider, user string) (Key, error) {
	var out struct {
		Key Key `xml:"CreateAccessKeyResult>AccessKey"`
	}
	if err := c.call(ctx, creds, "CreateAccessKey", url.Values{"UserName": {user}}, &out); err != nil {
		return Key{}, err
	}
	if out.Key.AccessKeyID == "" || out.Key.SecretAccessKey == "" {
		return Key{}, &smithy.OperationError{ServiceID: "IAM", OperationName: "CreateAccessKey", Err: errors.New("IAM answered without the key")}
	}
	return out.Key, nil
}

// DeleteAccessKey deletes user's access key id.
func (c *Client) DeleteAccessKey(ctx context.Context, creds aws.CredentialsProvider, user, id string) error {
	return c.call(ctx, creds, "DeleteAccessKey", url.Values{"UserName": {user}, "AccessKeyId": {id}}, nil)
}

// call makes one Query API call, retried as the client's retryer says,
// and decodes its XML answer into out. Errors are *smithy.OperationError
// values around a smithy.APIError for IAM's own.
func (c *Client) call(ctx context.Context, creds aws.CredentialsProvider, action string, params url.Values, out any) error {
	params.Set("Action", action)
	params.Set("Version", "2010-05-08")
	if err := c.retried(ctx, creds, []byte(params.Encode()), out); err != nil {
		return &smithy.OperationError{ServiceID: "IAM", OperationName: action, Err: err}
	}
	return nil
}

// retried makes the call until it succeeds or the retryer gives up.
func (c *Client) retried(ctx context.Context, creds aws.CredentialsProvider, body []byte, out any) error {
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, creds, body, out)
		if err == nil || attempt >= c.retryer.MaxAttempts() || !c.retryer.IsErrorRetryable(err) {
			return err
		}
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// maxAnswer bounds what is read of an answer; IAM's are a few KB.
const maxAnswer = 1 << 20

func (c *Client) once(ctx context.Context, creds aws.CredentialsProvider, body []byte, out any) error {
	cred, err := creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("get the credentials that sign the call: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("IAM endpoint %q: %w", c.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, cred, req, hex.EncodeToString(sum[:]), "iam", c.region, c.now()); err != nil {
		return fmt.Errorf("sign the call: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("read IAM's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode IAM's answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return nil
}

// apiError reads IAM's error answer, with its status for the retryer; its
// message never holds a secret.
func apiError(resp *http.Response, data []byte) error {
	var e struct {
		Type    string `xml:"Error>Type"`
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	if xml.Unmarshal(data, &e) != nil || e.Code == "" {
		e.Code, e.Message = http.StatusText(resp.StatusCode), fmt.Sprintf("HTTP %d without an IAM error", resp.StatusCode)
		e.Code = strings.ReplaceAll(e.Code, " ", "")
	}
	fault := smithy.FaultClient
	if e.Type == "Receiver" || resp.StatusCode >= 500 {
		fault = smithy.FaultServer
	}
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp},
		Err: &smithy.GenericAPIError{Code: e.Code, Message: e.Message, Fault: fault}}
}
