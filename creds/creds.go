// Package creds provides the temporary credentials brokerd serves: what
// a credential source produces, the cache keeps and the endpoint encodes.
package creds

import "github.com/aws/aws-sdk-go-v2/aws"

// Credentials are temporary credentials and, when they are a role's, its
// ARN.
type Credentials struct {
	aws.Credentials
	RoleARN string
}
