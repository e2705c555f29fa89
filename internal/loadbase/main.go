// Command loadbase is the baseline that scripts/load measures brokerd
// against: a bare net/http server whose one handler answers every request
// with fixed, credentials-shaped JSON of a given size.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	size := flag.Int("size", 1024, "body size in bytes (padded through the token)")
	flag.Parse()
	body, err := credentialsBody(*size)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The address on stdout tells the load script where to send requests.
	fmt.Println(ln.Addr())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	fmt.Fprintln(os.Stderr, http.Serve(ln, h))
	os.Exit(1)
}

// credentialsBody returns the endpoint's JSON shape, exactly size bytes long.
func credentialsBody(size int) ([]byte, error) {
	shape := func(token string) []byte {
		b, _ := json.Marshal(struct {
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string `json:"SecretAccessKey"`
			Token           string `json:"Token"`
			Expiration      string `json:"Expiration"`
			AccountID       string `json:"AccountId"`
			RoleArn         string `json:"RoleArn"`
		}{"ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", token,
			"2030-01-02T03:04:05Z", "123456789012", "arn:aws:iam::123456789012:role/UpdateApp"})
		return b
	}
	pad := size - len(shape(""))
	if pad < 0 {
		return nil, fmt.Errorf("-size %d: the smallest body is %d bytes", size, size-pad)
	}
	return shape(strings.Repeat("x", pad)), nil
}
