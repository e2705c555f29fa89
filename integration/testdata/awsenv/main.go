// Command awsenv prints the AWS_REGION and AWS_DEFAULT_REGION it runs
// with, one NAME=VALUE a line (NAME unset when it is not set), for the
// Docker integration tests' FROM scratch image, which has no shell.
package main

import (
	"fmt"
	"os"
)

func main() {
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v, ok := os.LookupEnv(name); ok {
			fmt.Printf("%s=%s\n", name, v)
		} else {
			fmt.Printf("%s unset\n", name)
		}
	}
}
