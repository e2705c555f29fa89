package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/sdkenv"
)

// STSTime returns the time in the Date header of the STS endpoint that
// the SDK resolves, from an unsigned request, to measure clock skew.
func STSTime(ctx context.Context) (time.Time, error) {
	// The shared files are left out, and with them AWS_PROFILE: doctor
	// runs this to diagnose them.
	cfg, err := sdkenv.Load(ctx, config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithRetryMaxAttempts(1), config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(3*time.Second)))
	if err != nil {
		return time.Time{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var header http.Header
	var re *awshttp.ResponseError
	var send *smithyhttp.RequestSendError
	switch {
	case errors.As(err, &send): // a ResponseError too, with no response
		return time.Time{}, sendError{send}
	case err == nil:
		if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
			header = raw.Header
		}
	case errors.As(err, &re):
		header = re.Response.Header
	default:
		return time.Time{}, fmt.Errorf("reach STS: %w", err)
	}
	at, err := http.ParseTime(header.Get("Date"))
	if err != nil {
		return time.Time{}, errors.New("STS answered without a Date header")
	}
	return at, nil
}

// sendError is an STS request that got no answer, shown as its cause: the
// SDK's operation, attempt count and empty request id add nothing.
type sendError struct{ *smithyhttp.RequestSendError }

func (e sendError) Error() string { return "reach STS: " + e.Err.Error() }

func (e sendError) Unwrap() error { return e.RequestSendError }
