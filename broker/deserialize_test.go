package broker

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/fault"
)

// TestClassify_Unreadable checks that an STS answer that does not parse
// (a cut-off body, a proxy's page) is STS failing, which brokerd retries,
// and not said to be the network.
func TestClassify_Unreadable(t *testing.T) {
	err := &stsError{op: "AssumeRole", profile: devRole, signer: "base", err: &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole",
		Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 200}},
			Err:      &smithy.DeserializationError{Err: errors.New("XML syntax error on line 1: unexpected EOF")},
		}},
	}}
	got := classify("dev", err)
	if got.Kind != fault.STSUnavailable || got.Code != "" {
		t.Errorf("classify(unreadable answer) = %v %q, want STSUnavailable with its own code", got.Kind, got.Code)
	}
	for _, want := range []string{`"dev"`, "cannot read", "unexpected EOF", "brokerd retries", "AWS_ENDPOINT_URL_STS"} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("classify(unreadable answer) = %q, want it to say %q", got.Message, want)
		}
	}
	if strings.Contains(got.Message, "check the network") {
		t.Errorf("classify(unreadable answer) = %q, blames the network", got.Message)
	}
}
