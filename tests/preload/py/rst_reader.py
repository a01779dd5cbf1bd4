"""rst_reader.py — a plain TCP program that reads only after its peer has
sent data and reset the connection (tests/preload/faults_reset.sh).

  rst_reader.py HOW SIZE PORT GO-FILE
      connect to 127.0.0.1:PORT, wait (bounded) for GO-FILE to exist, then
      read SIZE bytes at a time until the end or an error; prints
      "got BYTES LINES" and "end eof" / "end reset" / "end error STRERROR".
      HOW: read, recv, recvmsg, readv (that call); pump (the socket dup2'd
      onto fd 0 first, then read(0)); poll, epoll-et (non-blocking recv
      after poll / an edge-triggered epoll); peek (MSG_PEEK, then recv);
      write-first, pump-write-first (write a line first: "write ok" or
      "write STRERROR", then read / read(0)).
  rst_reader.py plain-server PORT [fin]
      accept one connection, send the 40 lines rawtls.py's rst-records
      sends (fin: then shutdown(SHUT_WR), as rst-close-records sends
      close_notify), then reset it (SO_LINGER 0); prints "ready", "rst sent".
"""
import os
import select
import socket
import struct
import sys
import time

S = float(os.environ.get("TLSSHIM_TIME_SCALE", "1"))


def out(*a):
    print(*a, flush=True)


def lines():
    return b"".join(b"REC-%02d " % i + b"x" * 1000 + b"\n" for i in range(40))


def plain_server(port, fin):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    out("ready")
    ls.settimeout(20 * S)
    c, _ = ls.accept()
    c.sendall(lines())
    if fin:
        c.shutdown(socket.SHUT_WR)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    out("rst sent")


def reader(how, size, port, go):
    s = socket.create_connection(("127.0.0.1", port), timeout=None)
    out("connected")
    end = time.time() + 20 * S
    while not os.path.exists(go) and time.time() < end:
        time.sleep(0.01)
    fd = s.fileno()
    if how in ("pump", "pump-write-first"):
        os.dup2(fd, 0)
        fd = 0
    got = b""
    try:
        if how in ("write-first", "pump-write-first"):
            try:
                os.write(fd, b"late request\n")
                out("write ok")
            except OSError as e:
                out("write %s" % e.strerror)
        if how in ("poll", "epoll-et"):
            s.setblocking(False)
            if how == "poll":
                pl = select.poll()
                pl.register(fd, select.POLLIN)
            else:
                pl = select.epoll()
                pl.register(fd, select.EPOLLIN | select.EPOLLET)
        while True:
            if how in ("poll", "epoll-et"):
                try:
                    d = s.recv(size)
                except BlockingIOError:
                    if not pl.poll(10 * S):
                        out("poll timeout")
                        break
                    continue
            elif how == "peek":
                s.recv(size, socket.MSG_PEEK)
                d = s.recv(size)
            elif how in ("read", "pump", "pump-write-first"):
                d = os.read(fd, size)
            elif how in ("recv", "write-first"):
                d = s.recv(size)
            elif how == "recvmsg":
                d = s.recvmsg(size)[0]
            else:
                bufs = [bytearray(size // 2), bytearray(size - size // 2)]
                n = os.readv(fd, bufs)
                d = bytes(b"".join(bufs))[:n]
            if not d:
                out("got %d %d" % (len(got), got.count(b"\n")))
                out("end eof")
                return
            got += d
    except ConnectionResetError:
        out("got %d %d" % (len(got), got.count(b"\n")))
        out("end reset")
    except OSError as e:
        out("got %d %d" % (len(got), got.count(b"\n")))
        out("end error %s" % e.strerror)
    if got and got != lines()[:len(got)]:
        out("bytes differ")


if __name__ == "__main__":
    if sys.argv[1] == "plain-server":
        plain_server(int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "fin")
    else:
        reader(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
