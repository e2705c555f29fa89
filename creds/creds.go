// Package creds provides the temporary credentials brokerd serves: what
// a credential source produces, the cache keeps and the endpoint encodes.
package creds

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// MinValid is the least time left that credentials are served with: those
// with a minute or less left never are, as a client could not use them.
const MinValid = time.Minute

// Credentials are temporary credentials and, when they are a role's, its
// ARN.
type Credentials struct {
	aws.Credentials
	RoleARN string
}
