package ssofake

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STS is the part of an STS client that AssumeRole uses.
type STS interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ STS = (*sts.Client)(nil)

// AssumeRole returns a Config.Mint that mints the credentials of
// arn:aws:iam::ACCOUNT:role/ROLE with client's AssumeRole under
// sessionName, as the portal does for a permission set's role, so that
// GetCallerIdentity with them names the role (against moto, for one).
func AssumeRole(client STS, sessionName string) func(ctx context.Context, accountID, roleName string) (aws.Credentials, error) {
	return func(ctx context.Context, accountID, roleName string) (aws.Credentials, error) {
		out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/%s", accountID, roleName)),
			RoleSessionName: aws.String(sessionName),
		})
		if err != nil {
			return aws.Credentials{}, err
		}
		c := out.Credentials
		if c == nil {
			return aws.Credentials{}, errors.New("AssumeRole answered without credentials")
		}
		return aws.Credentials{
			AccessKeyID:     aws.ToString(c.AccessKeyId),
			SecretAccessKey: aws.ToString(c.SecretAccessKey),
			SessionToken:    aws.ToString(c.SessionToken),
			CanExpire:       true,
			Expires:         aws.ToTime(c.Expiration),
		}, nil
	}
}
