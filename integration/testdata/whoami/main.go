// Command whoami is the Docker integration tests' client, built static
// into a FROM scratch image: with no argument it prints the ARN that
// GetCallerIdentity returns for the credentials the Go SDK's default chain
// finds (in a container: the container credentials endpoint); with -raw it
// prints the status and body that the endpoint in
// AWS_CONTAINER_CREDENTIALS_FULL_URI (or -url) answers with the token file.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	raw := flag.Bool("raw", false, "GET the credentials endpoint and print its status and body")
	url := flag.String("url", os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "endpoint for -raw")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if *raw {
		if err := get(ctx, *url); err != nil {
			fmt.Fprintln(os.Stderr, "whoami:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: load config:", err)
		os.Exit(1)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		os.Exit(1)
	}
	fmt.Println(*out.Arn)
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if f := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); f != "" {
		token, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", string(token))
	} else if t := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"); t != "" {
		req.Header.Set("Authorization", t)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		var c struct{ AccessKeyId string }
		json.Unmarshal(body, &c)
		body = []byte(c.AccessKeyId) // not the secrets
	}
	fmt.Printf("%d %s\n", resp.StatusCode, body)
	return nil
}
