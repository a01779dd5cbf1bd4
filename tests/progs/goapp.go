// goapp: a small Go program for tests/preload/goruntime.sh and
// tests/launcher/unreachable.sh.  Go's runtime makes its socket calls
// itself, never through the C library: under a policy with TLS rules the
// library must stop it before main runs.  It links the C library (cgo:
// os/user), as Go programs that resolve users or names do, so the dynamic
// loader preloads libtlsshim.so into it.
//
//	goapp dial ADDR LINE   connect, send LINE, print the line read back
//	goapp listen ADDR      print "ready", echo one line on one connection
//	goapp                  create $TLSSHIM_TEST_MARKER holding $LD_PRELOAD
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/user"
)

func main() {
	if _, err := user.Current(); err != nil {
		fmt.Println("user:", err)
	}
	switch {
	case len(os.Args) == 4 && os.Args[1] == "dial":
		c, err := net.Dial("tcp", os.Args[2])
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		fmt.Fprintf(c, "%s\n", os.Args[3])
		line, err := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("read %q %v\n", line, err)
	case len(os.Args) == 3 && os.Args[1] == "listen":
		l, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(line))
		c.Close()
	default:
		if m := os.Getenv("TLSSHIM_TEST_MARKER"); m != "" {
			os.WriteFile(m, []byte(os.Getenv("LD_PRELOAD")+"\n"), 0644)
		}
	}
}
