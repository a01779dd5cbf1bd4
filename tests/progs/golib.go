// golib: a Go library (go build -buildmode=c-shared) for
// tests/preload/goruntime.sh.  Its init() runs when a program loads it
// (its runtime starts on a thread of its own): with GOLIB_DIAL set
// (IPv4:PORT) it connects there and sends GOLIB_LINE, with the Go
// runtime's own system calls (package syscall, which package net uses
// underneath; net itself would make the c-shared build take twice as
// long), as a Go extension of a C or Python program would.  GoLibDone()
// waits for that and says what came back.
package main

import "C"

import (
	"net/netip"
	"os"
	"syscall"
)

var result = "no dial"

func dial(addr, line string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return "bad address " + addr
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return "socket: " + err.Error()
	}
	defer syscall.Close(fd)
	if err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return "connect: " + err.Error()
	}
	if _, err = syscall.Write(fd, []byte(line+"\n")); err != nil {
		return "write: " + err.Error()
	}
	buf := make([]byte, 256)
	got := 0
	for got < len(buf) && (got == 0 || buf[got-1] != '\n') {
		n, err := syscall.Read(fd, buf[got:])
		if err != nil || n <= 0 {
			break
		}
		got += n
	}
	return "read " + string(buf[:got])
}

func init() {
	if addr := os.Getenv("GOLIB_DIAL"); addr != "" {
		result = dial(addr, os.Getenv("GOLIB_LINE"))
	}
}

//export GoLibDone
func GoLibDone() *C.char { return C.CString(result) }

func main() {}
