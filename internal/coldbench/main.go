// Command coldbench measures brokerd's cold path: the latency of the first
// request for each of N fresh role profiles, against a brokerd daemon
// already serving (endpoint and token from `brokerd env`), compared with
// the Go SDK calling AssumeRole directly with one reused client against the
// same STS. scripts/coldpath runs it; it prints medians and spreads.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	n := flag.Int("n", 100, "fresh profiles to fetch")
	prefix := flag.String("prefix", "cold", "profiles are PREFIX-1 … PREFIX-N")
	role := flag.String("role", "arn:aws:iam::123456789012:role/UpdateApp", "role the profiles assume")
	flag.Parse()
	url, _, _ := strings.Cut(os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "/v1/credentials")
	token, err := os.ReadFile(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// brokerd: one new connection per first request, as a new SDK client.
	var brokerd []time.Duration
	for i := 1; i <= *n; i++ {
		client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/credentials/%s-%d", url, *prefix, i), nil)
		req.Header.Set("Authorization", string(token))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		brokerd = append(brokerd, time.Since(start))
		if resp.StatusCode != 200 {
			log.Fatalf("GET %s-%d = %s", *prefix, i, resp.Status)
		}
		client.CloseIdleConnections()
	}

	// The Go SDK with one client, reused, as the best a caller can do.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")),
		config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	client := sts.NewFromConfig(cfg)
	var sdk []time.Duration
	for i := 0; i <= *n; i++ {
		start := time.Now()
		_, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(*role), RoleSessionName: aws.String("coldbench")})
		if err != nil {
			log.Fatal(err)
		}
		if i > 0 { // the first warms the connection
			sdk = append(sdk, time.Since(start))
		}
	}
	report("brokerd first request", brokerd)
	report("Go SDK AssumeRole, reused client", sdk)
	fmt.Printf("difference of medians: %.2f ms\n", ms(median(brokerd))-ms(median(sdk)))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(what string, d []time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	fmt.Printf("%-34s n=%d median %.2f ms, p10 %.2f ms, p90 %.2f ms, max %.2f ms\n",
		what, len(s), ms(s[len(s)/2]), ms(s[len(s)/10]), ms(s[len(s)*9/10]), ms(s[len(s)-1]))
}
