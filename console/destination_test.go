package console

import "testing"

func TestDestination(t *testing.T) {
	tests := []struct{ part, region, path, want string }{
		{"", "", "", "https://console.aws.amazon.com/"},
		{"", "", "s3", "https://console.aws.amazon.com/s3"},
		{"", "us-west-2", "", "https://us-west-2.console.aws.amazon.com/console/home?region=us-west-2"},
		{"", "us-west-2", "/ec2/home", "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"},
		{"", "us-west-2", "ec2/home?x=1#Instances", "https://us-west-2.console.aws.amazon.com/ec2/home?x=1&region=us-west-2#Instances"},
		{"", "cn-north-1", "", "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1"},
		{"", "us-gov-west-1", "iam", "https://us-gov-west-1.console.amazonaws-us-gov.com/iam?region=us-gov-west-1"},
		{"", "eu-west-1", "https://eu-west-1.console.aws.amazon.com/lambda/home", "https://eu-west-1.console.aws.amazon.com/lambda/home"},
		// A role's partition, for a profile without a region.
		{"aws-us-gov", "", "", "https://console.amazonaws-us-gov.com/"},
		{"aws-cn", "", "s3", "https://console.amazonaws.cn/s3"},
	}
	for _, tt := range tests {
		if got := destination(tt.part, tt.region, tt.path); got != tt.want {
			t.Errorf("destination(%q, %q, %q) = %q, want %q", tt.part, tt.region, tt.path, got, tt.want)
		}
	}
}

func TestFederationURL(t *testing.T) {
	tests := []struct{ part, region, override, want string }{
		{"", "", "", "https://signin.aws.amazon.com/federation"},
		{"", "eu-west-1", "", "https://signin.aws.amazon.com/federation"},
		{"", "cn-northwest-1", "", "https://signin.amazonaws.cn/federation"},
		{"", "us-gov-east-1", "", "https://signin.amazonaws-us-gov.com/federation"},
		{"", "us-gov-east-1", "http://127.0.0.1:1/federation", "http://127.0.0.1:1/federation"},
		// A role's partition, for a profile without a region.
		{"aws-us-gov", "", "", "https://signin.amazonaws-us-gov.com/federation"},
		{"aws-cn", "", "", "https://signin.amazonaws.cn/federation"},
	}
	for _, tt := range tests {
		c := New(Config{FederationURL: tt.override})
		if got := c.federationURL(tt.part, tt.region); got != tt.want {
			t.Errorf("federationURL(%q, %q) with override %q = %q, want %q", tt.part, tt.region, tt.override, got, tt.want)
		}
	}
}
