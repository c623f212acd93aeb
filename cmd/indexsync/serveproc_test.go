package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/testenv"
)

// serveProc is an `indexsync serve` process a test started.
type serveProc struct {
	cmd  *exec.Cmd
	addr string          // its --listen address, host:port
	logs *testenv.Output // its stderr, readable while it runs
}

// startServeProc starts `indexsync serve --listen <a free port>` with args
// and env added to the test's environment (the API key included), and
// returns once GET /health answers 200 through get (http.Get when nil;
// scheme "https" for a serve with --tls-cert). When the test ends, a serve
// still running gets SIGTERM, then SIGKILL after 10 s, and its last log
// lines go to the test's log.
func startServeProc(t *testing.T, args, env []string, scheme string, get func(string) (*http.Response, error)) *serveProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{addr: ln.Addr().String(), logs: &testenv.Output{}}
	ln.Close()
	p.cmd = exec.Command(binary(t), append([]string{"serve", "--listen", p.addr}, args...)...)
	p.cmd.Env = append(os.Environ(), append(env, "INDEXSYNC_API_KEYS="+apiKey)...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState != nil {
			return // the test waited for it
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		stop := time.AfterFunc(10*time.Second, func() { _ = p.cmd.Process.Kill() })
		_ = p.cmd.Wait()
		stop.Stop()
		t.Logf("serve: %s", lastLines(p.logs.String(), 8))
	})
	if get == nil {
		get = http.Get
	}
	waitFor(t, 60*time.Second, "indexsync serve to answer "+scheme+"://"+p.addr+"/health", func() bool {
		resp, err := get(scheme + "://" + p.addr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}
