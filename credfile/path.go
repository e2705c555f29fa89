package credfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Path returns the shared credentials file's path as the AWS SDKs find it:
// AWS_SHARED_CREDENTIALS_FILE (a leading ~/ is the home directory), else
// ~/.aws/credentials.
func Path() (string, error) {
	p := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if p != "" && p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the AWS credentials file: %w", err)
	}
	if p != "" {
		return filepath.Join(home, p[1:]), nil
	}
	return filepath.Join(home, ".aws", "credentials"), nil
}
