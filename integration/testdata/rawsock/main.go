// Command rawsock is a Docker integration test's probe, built static into a
// FROM scratch image: it tries to open a packet socket, as a container
// that ARP-spoofs the relay's address would, prints "packet socket: ok" or
// the error, then runs /whoami with its arguments, so that one container
// shows both what it may do on the network and that it gets credentials.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	// ETH_P_ALL in network byte order.
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300)
	if err != nil {
		fmt.Println("packet socket:", err)
	} else {
		syscall.Close(fd)
		fmt.Println("packet socket: ok")
	}
	os.Stdout.Sync()
	argv := append([]string{"/whoami"}, os.Args[1:]...)
	err = syscall.Exec("/whoami", argv, os.Environ())
	fmt.Fprintln(os.Stderr, "rawsock: exec /whoami:", err)
	os.Exit(1)
}
